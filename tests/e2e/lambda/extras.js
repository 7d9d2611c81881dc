// extras.js: functions the end-to-end tests invoke besides the chat sample's.
// echo: two-way echo of the message; inspect: the event itself as the body; boom: throws (a
// function error); slow: sleeps {"ms": N} (its timeout is 1 s); nothing: returns undefined.
exports.echo = async (event) => ({ statusCode: 200, body: event.body });

exports.inspect = async (event) => ({ statusCode: 200, body: JSON.stringify(event) });

exports.boom = async () => {
  throw new Error("boom");
};

exports.slow = async (event) => {
  const ms = JSON.parse(event.body || "{}").ms || 3000;
  await new Promise((resolve) => setTimeout(resolve, ms));
  return { statusCode: 200, body: `slept ${ms}` };
};

exports.nothing = async () => undefined;
