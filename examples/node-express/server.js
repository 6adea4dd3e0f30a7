// A minimal express app: answers on $PORT (default 8080) and exits cleanly on SIGTERM, which
// reaches it directly because lade runs `node server.js`, not `npm start`.
const express = require("express");
const { greeting } = require("./lib/greeting");

const app = express();
app.get("/", (_req, res) => {
  res.type("text/plain").send(`${greeting()} uid=${process.getuid()} env=${process.env.NODE_ENV}\n`);
});

const port = Number(process.env.PORT || 8080);
const server = app.listen(port, () => console.log(`node-express listening on ${port}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
