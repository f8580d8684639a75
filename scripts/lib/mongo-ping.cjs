// Exits 0 once the MongoDB-protocol server at argv[2] answers a ping command.
const mongoose = require('mongoose');

mongoose
  .connect(process.argv[2], { serverSelectionTimeoutMS: 1000 })
  .then((m) => m.connection.db.admin().ping())
  .then(() => mongoose.disconnect())
  .then(
    () => process.exit(0),
    () => process.exit(1),
  );
