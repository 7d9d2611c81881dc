// handler.js: the onconnect, ondisconnect and sendmessage functions of AWS's WebSocket chat
// sample (aws-samples/simple-websockets-chat-app, SDK v3 version), as they would be deployed;
// only the table calls go to connections.js instead of DynamoDB.
//
// The management API endpoint: AWS's sample builds it from the event, as
// https://${domainName}/${stage} (2020) or https://${apiId}.execute-api.${AWS_REGION}
// .amazonaws.com/${stage} (2024). Behind Portico, requestContext.domainName is the Host the
// client used without its port, and the scheme is http unless Portico terminates TLS, so the
// endpoint comes from APIGW_ENDPOINT when it is set (http://HOST:PORT/STAGE); on AWS it is unset
// and the sample's own rule applies. Credentials and region come from the Lambda environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION), as on AWS.
const {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} = require("@aws-sdk/client-apigatewaymanagementapi");
const table = require("./connections");

const endpointOf = (event) =>
  process.env.APIGW_ENDPOINT ||
  `https://${event.requestContext.domainName}/${event.requestContext.stage}`;

exports.onconnect = async (event) => {
  try {
    await table.put(event.requestContext.connectionId);
  } catch (err) {
    return { statusCode: 500, body: "Failed to connect: " + JSON.stringify(err) };
  }
  return { statusCode: 200, body: "Connected." };
};

exports.ondisconnect = async (event) => {
  try {
    await table.delete(event.requestContext.connectionId);
  } catch (err) {
    return { statusCode: 500, body: "Failed to disconnect: " + JSON.stringify(err) };
  }
  return { statusCode: 200, body: "Disconnected." };
};

exports.sendmessage = async (event) => {
  let connectionData;
  try {
    connectionData = await table.scan();
  } catch (e) {
    return { statusCode: 500, body: e.stack };
  }

  const apigwManagementApi = new ApiGatewayManagementApiClient({
    endpoint: endpointOf(event),
  });

  const postData = JSON.parse(event.body).data;

  const postCalls = connectionData.Items.map(async ({ connectionId }) => {
    try {
      await apigwManagementApi.send(
        new PostToConnectionCommand({ ConnectionId: connectionId, Data: postData }),
      );
    } catch (e) {
      // The sample tests e.statusCode, which SDK v3 errors do not have; v3 puts it here.
      if (e.$metadata && e.$metadata.httpStatusCode === 410) {
        console.log(`Found stale connection, deleting ${connectionId}`);
        await table.delete(connectionId);
      } else {
        throw e;
      }
    }
  });

  try {
    await Promise.all(postCalls);
  } catch (e) {
    return { statusCode: 500, body: e.stack };
  }

  return { statusCode: 200, body: "Data sent." };
};
