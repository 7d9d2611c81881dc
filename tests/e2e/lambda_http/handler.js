// handler.js: handlers as people write them for API Gateway HTTP APIs (AWS's payload format
// 2.0 page), nothing Portico-specific: they must answer through Portico as they do on AWS.

// Payload 2.0: read the request from requestContext.http, rawPath, pathParameters, cookies;
// answer a structured result (POST) or a bare object that API Gateway turns into JSON (GET).
exports.items = async (event) => {
  const { method } = event.requestContext.http;
  if (method === "POST") {
    const item = JSON.parse(event.isBase64Encoded ? Buffer.from(event.body, "base64") : event.body);
    return {
      statusCode: 201,
      headers: { "content-type": "application/json", location: `/items/${item.id}` },
      cookies: [`last=${item.id}; Path=/; HttpOnly`, "seen=1"],
      body: JSON.stringify({ created: item, requestId: event.requestContext.requestId }),
    };
  }
  return {
    id: event.pathParameters ? event.pathParameters.id : null,
    query: event.queryStringParameters || {},
    rawPath: event.rawPath,
    routeKey: event.routeKey,
    stage: event.requestContext.stage,
    cookies: event.cookies || [],
    userAgent: event.headers["user-agent"],
  };
};

// A bare string is the body as it is.
exports.hello = async (event) =>
  `hello ${(event.queryStringParameters && event.queryStringParameters.name) || "world"}`;

// Binary results are base64 with isBase64Encoded.
exports.image = async () => ({
  statusCode: 200,
  isBase64Encoded: true,
  headers: { "content-type": "image/png" },
  body: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).toString("base64"),
});

// Payload 1.0 (REST-style): httpMethod, resource, multiValueHeaders in the result.
exports.v1 = async (event) => ({
  statusCode: 200,
  multiValueHeaders: { "Set-Cookie": ["a=1", "b=2"] },
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({
    method: event.httpMethod,
    resource: event.resource,
    path: event.path,
    id: event.pathParameters.id,
    multi: event.multiValueQueryStringParameters,
  }),
});

exports.boom = async () => {
  throw new Error("boom");
};
