// Run by the "replset" sidecar of every member of a production MongoDB
// (overlays/prod), with mongosh --nodb. Idempotent, so every member runs it on
// every start:
//   1. the first member initiates the replica set, only when neither it nor
//      any other member is in one yet (a member that lost its volume comes back empty; initiating it
//      again would start a second set under the same name);
//   2. once there is a primary, the primary's sidecar creates the admin user
//      through the localhost exception (which closes with the first user);
//   3. as admin, through the set, users.js creates the service's user or
//      resets its password and roles, as base does on a standalone mongod.
// A step that cannot be done yet throws; the kubelet restarts the sidecar with
// back-off, which is the retry.
const set = process.env.MONGO_REPLSET;
const members = (process.env.MONGO_MEMBERS || "").split(",").filter(Boolean);
const adminPwd = process.env.MONGO_ADMIN_PASSWORD;
if (!set || members.length === 0 || !adminPwd || !process.env.MONGO_DATABASE) {
  throw new Error("MONGO_REPLSET, MONGO_MEMBERS, MONGO_DATABASE and MONGO_ADMIN_PASSWORD must be set");
}
const self = members.find((h) => h.startsWith(`${process.env.HOSTNAME}.`));
if (!self) {
  throw new Error(`${process.env.HOSTNAME} is not in MONGO_MEMBERS ${members}`);
}

// hello needs no authentication: it says whether a member is in a set.
function hello(host) {
  try {
    const uri = `mongodb://${host}/?directConnection=true&serverSelectionTimeoutMS=2000`;
    return new Mongo(uri).getDB("admin").runCommand({ hello: 1 });
  } catch (e) {
    return null;
  }
}

function waitFor(what, get) {
  for (let i = 0; i < 120; i++) {
    const v = get();
    if (v) {
      return v;
    }
    sleep(1000);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const local = "127.0.0.1:27017";
const mine = waitFor("the local mongod", () => hello(local));

// A member already in the set skips this, so member 0 restarting while
// another member is away does not wait for it.
if (self === members[0] && !mine.setName) {
  const all = waitFor("every member", () => {
    const h = members.map(hello);
    return h.every(Boolean) ? h : null;
  });
  if (!all.some((h) => h.setName)) {
    const config = { _id: set, members: members.map((host, i) => ({ _id: i, host })) };
    const res = new Mongo(`mongodb://${local}/?directConnection=true`).getDB("admin").runCommand({ replSetInitiate: config });
    if (!res.ok) {
      throw new Error(`replSetInitiate: ${JSON.stringify(res)}`);
    }
    print(`initiated ${set} with ${members}`);
  }
}

waitFor("a primary", () => {
  const h = hello(local);
  return h && h.primary;
});

const adminURI = `mongodb://admin:${encodeURIComponent(adminPwd)}@${members.join(",")}/admin?replicaSet=${set}`;
function asAdmin() {
  try {
    const d = connect(adminURI);
    d.runCommand({ connectionStatus: 1, showPrivileges: false });
    return d.getSiblingDB("admin").runCommand({ usersInfo: 1 }).ok ? d : null;
  } catch (e) {
    return null;
  }
}

let admin = asAdmin();
if (!admin) {
  if (!hello(local).isWritablePrimary) {
    throw new Error("no admin user yet; the primary's sidecar creates it");
  }
  connect(`mongodb://${local}/admin?directConnection=true`).createUser({
    user: "admin",
    pwd: adminPwd,
    roles: ["userAdminAnyDatabase", "clusterAdmin"],
  });
  print("created the admin user");
  admin = asAdmin();
  if (!admin) {
    throw new Error("the admin user does not authenticate");
  }
}

db = admin;
load("/etc/mongo-init/users.js");
