// authorizer.js: a Lambda REQUEST authorizer for WebSocket $connect, written as AWS's developer
// guide writes one: the token comes in the query string (browsers cannot set headers on a
// WebSocket), "Unauthorized" is thrown for a bad token, a Deny policy for a banned one, and the
// context reaches every later event as requestContext.authorizer (test_auth_lambda.py).
const policy = (principalId, effect, resource, context) => ({
  principalId,
  policyDocument: {
    Version: "2012-10-17",
    Statement: [{ Action: "execute-api:Invoke", Effect: effect, Resource: resource }],
  },
  context,
});

exports.handler = async (event) => {
  const token = event.queryStringParameters.token;
  if (token === "banned") return policy("banned", "Deny", event.methodArn);
  if (!token.startsWith("user-")) throw new Error("Unauthorized");
  return policy(token, "Allow", event.methodArn, { user: token, level: 3, admin: false });
};
