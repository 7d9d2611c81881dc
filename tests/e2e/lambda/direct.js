// direct.js: the same handlers served as a plain HTTP backend (no Lambda runtime): POST any path
// with a Lambda proxy event, get the handler's result. The latency test puts it behind an
// AWS_PROXY-over-http integration to compare with a Lambda Invoke through serverless-offline.
// Usage: node direct.js MODULE.EXPORT  (prints the port it listens on, on 127.0.0.1)
const http = require("http");
const path = require("path");

const [mod, fn] = (process.argv[2] || "extras.echo").split(".");
const handler = require(path.join(__dirname, mod))[fn];

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    let out;
    try {
      out = JSON.stringify(await handler(JSON.parse(Buffer.concat(chunks).toString())));
    } catch (e) {
      res.writeHead(200, { "x-amz-function-error": "Unhandled" });
      res.end(JSON.stringify({ errorMessage: String(e.message), errorType: "Error" }));
      return;
    }
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(out === undefined ? "null" : out);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
// Node 18's close() waits for idle keep-alive sockets (the gateway's pooled connection) to end;
// 19+ closes them itself. Close them here so a stop by PID is prompt on both.
process.on("SIGTERM", () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
