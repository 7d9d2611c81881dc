// connections.js: the chat sample's connection table (DynamoDB there) as one file per connection
// in CONNECTIONS_DIR, with the three calls the handlers make: put, delete, scan.
const fs = require("fs/promises");
const path = require("path");

const dir = () => process.env.CONNECTIONS_DIR;
// Connection ids are base64url with '=' padding: safe as file names once '/' cannot occur.
const file = (id) => path.join(dir(), encodeURIComponent(id));

exports.put = async (connectionId) => {
  await fs.mkdir(dir(), { recursive: true });
  await fs.writeFile(file(connectionId), connectionId);
};

exports.delete = async (connectionId) => {
  await fs.rm(file(connectionId), { force: true });
};

exports.scan = async () => {
  await fs.mkdir(dir(), { recursive: true });
  const names = await fs.readdir(dir());
  return { Items: names.map((n) => ({ connectionId: decodeURIComponent(n) })) };
};
