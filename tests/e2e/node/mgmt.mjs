// mgmt.mjs: calls the @connections API with the AWS SDK for JavaScript v3, as a backend would.
// usage: node mgmt.mjs ENDPOINT post|get|delete CONNECTION_ID [DATA]
// Credentials and region come from the environment (AWS_ACCESS_KEY_ID, ..., AWS_REGION).
// Prints one JSON line: {"ok":true,"status":200,"result":{...}} or {"ok":false,"name":...}.
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
  GetConnectionCommand,
  DeleteConnectionCommand,
} from "@aws-sdk/client-apigatewaymanagementapi";

const [endpoint, op, id, data] = process.argv.slice(2);
const client = new ApiGatewayManagementApiClient({ endpoint });
const cmd =
  op === "post" ? new PostToConnectionCommand({ ConnectionId: id, Data: data }) :
  op === "get" ? new GetConnectionCommand({ ConnectionId: id }) :
  new DeleteConnectionCommand({ ConnectionId: id });
try {
  const out = await client.send(cmd);
  const result = { ...out };
  delete result.$metadata;
  for (const k of ["ConnectedAt", "LastActiveAt"])
    if (result[k] instanceof Date) result[k] = result[k].toISOString();
  console.log(JSON.stringify({ ok: true, status: out.$metadata.httpStatusCode,
                               requestId: out.$metadata.requestId, result }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, name: e.name, status: e.$metadata?.httpStatusCode,
                               message: e.message }));
}
