// Run by each MongoDB StatefulSet's "users" init container, against a mongod
// of its own on localhost without authentication (the real one, with --auth,
// starts after it): creates the service's user, or sets its password and
// roles again (a rotated secret takes effect on the next restart). The user
// is named after its database, lives in it, and may read and write that
// database only.
const name = process.env.MONGO_DATABASE;
const pwd = process.env.MONGO_PASSWORD;
if (!name || !pwd) {
  throw new Error("MONGO_DATABASE and MONGO_PASSWORD must be set");
}
const own = db.getSiblingDB(name);
const roles = [{ role: "readWrite", db: name }];
if (own.getUser(name)) {
  own.updateUser(name, { pwd, roles });
} else {
  own.createUser({ user: name, pwd, roles });
}
print(`user ${name}: readWrite on ${name} only`);
