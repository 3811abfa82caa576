package validate

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// secretKey names one key of one secret.
type secretKey struct{ Secret, Key string }

func (k secretKey) String() string { return k.Secret + "/" + k.Key }

// store is what one store StatefulSet admits: user -> the secret key holding
// its password ("" is the one user of a store without user names: Redis).
type store struct {
	kind  string // "nats-streaming", "nats" (JetStream), "redis" or "mongo"
	users map[string]secretKey
}

// CheckStoreAuth: every store authenticates its clients, with passwords that
// come from secrets — the broker (a configuration file of users, each
// password a variable filled from a secret), Redis (--requirepass from a
// secret), each MongoDB (--auth, its user created from a secret) — and every
// service presents, from the same secret key, the credentials of a user the
// store it names admits. No two services share broker credentials: the
// broker's permissions are per user, so a shared user would let one service
// publish the other's events.
func CheckStoreAuth(m *Manifests) []string {
	stores := map[string]store{}
	var problems []string
	for _, s := range m.StatefulSets {
		st, found := storeOf(m, s)
		if st.kind == "" {
			continue
		}
		stores[s.Name] = st
		problems = append(problems, prefixed("StatefulSet/"+s.Name+": ", found)...)
	}
	brokerUsers := map[string][]string{}
	brokerKeys := map[secretKey][]string{}
	for _, d := range m.Deployments {
		c := d.Spec.Template.Spec.Containers[0]
		env, _ := envByName(c)
		var found []string
		if _, ok := env["NATS_URL"]; ok {
			user, key, problem := brokerCredentials(env, stores)
			found = appendIf(found, problem)
			if user != "" {
				brokerUsers[user] = append(brokerUsers[user], d.Name)
			}
			if key != (secretKey{}) {
				brokerKeys[key] = append(brokerKeys[key], d.Name)
			}
		}
		for _, name := range []string{"MONGO_URI", "REDIS_URL"} {
			if e, ok := env[name]; ok {
				found = appendIf(found, urlCredentials(env, e, stores))
			}
		}
		if _, ok := env["REDIS_SENTINELS"]; ok {
			found = appendIf(found, sentinelCredentials(env, stores))
		}
		problems = append(problems, prefixed(fmt.Sprintf("Deployment/%s/%s: ", d.Name, c.Name), found)...)
	}
	problems = append(problems, shared("broker user", brokerUsers)...)
	for key, users := range brokerKeys {
		problems = append(problems, shared("broker password "+key.String(), map[string][]string{"": users})...)
	}
	return problems
}

func shared(what string, by map[string][]string) []string {
	var problems []string
	for name, users := range by {
		if len(users) > 1 {
			slices.Sort(users)
			problems = append(problems, fmt.Sprintf("%s %s is shared by %v: services share broker credentials", what, name, users))
		}
	}
	return problems
}

// storeOf recognises a store by its image and reads what it admits.
func storeOf(m *Manifests, s *appsv1.StatefulSet) (store, []string) {
	pod := s.Spec.Template.Spec
	c := pod.Containers[0]
	kind, _, _ := strings.Cut(path.Base(c.Image), ":")
	st := store{kind: kind, users: map[string]secretKey{}}
	var found []string
	switch kind {
	case kindStan, kindJetStream:
		found = brokerUsersOf(m, pod, c, st.users)
	case "redis":
		pw := argAfter(c.Args, "--requirepass")
		if pw == "" {
			return st, []string{"Redis runs without --requirepass: anyone who reaches it is let in"}
		}
		key, problem := passwordFromSecret(c, pw, "--requirepass")
		st.users[""] = key
		found = appendIf(found, problem)
	case "mongo":
		if !slices.Contains(c.Args, "--auth") {
			found = append(found, "mongod runs without --auth: anyone who reaches it is let in")
		}
		found = append(found, mongoUsersOf(pod, st.users)...)
	default:
		return store{}, nil
	}
	return st, found
}

// brokerUsersOf reads the broker's configuration file (-c) from the
// ConfigMap mounted where it points.
func brokerUsersOf(m *Manifests, pod corev1.PodSpec, c corev1.Container, users map[string]secretKey) []string {
	file := ""
	for i, a := range c.Args {
		switch {
		case strings.HasPrefix(a, "-c=") || strings.HasPrefix(a, "--config="):
			_, file, _ = strings.Cut(a, "=")
		case (a == "-c" || a == "--config") && i+1 < len(c.Args):
			file = c.Args[i+1]
		}
	}
	if file == "" {
		return []string{"the broker runs without a configuration file (-c), so without users: anyone may connect and publish anything"}
	}
	conf, ok := mountedConfigMapFile(m, pod, c, file)
	if !ok {
		return []string{fmt.Sprintf("the configuration file %s is not a key of a ConfigMap mounted there", file)}
	}
	if !regexp.MustCompile(`(?m)^\s*authorization\s*\{`).MatchString(conf) {
		return []string{fmt.Sprintf("%s has no authorization block: anyone may connect", file)}
	}
	var found []string
	for _, u := range brokerUser.FindAllStringSubmatch(conf, -1) {
		key, problem := passwordFromSecret(c, u[2], "user "+u[1])
		found = appendIf(found, problem)
		users[u[1]] = key
	}
	if len(users) == 0 {
		found = append(found, fmt.Sprintf("%s names no users", file))
	}
	return found
}

// brokerUser is one user of a configuration bus.ServerConfig renders.
var brokerUser = regexp.MustCompile(`\{\s*user:\s*"([^"]+)",\s*password:\s*([^,\s}]+)`)

// mountedConfigMapFile returns the content of file as the container sees it,
// when a ConfigMap volume mounted at file's folder holds it.
func mountedConfigMapFile(m *Manifests, pod corev1.PodSpec, c corev1.Container, file string) (string, bool) {
	dir, name := path.Split(file)
	for _, vm := range c.VolumeMounts {
		if path.Clean(vm.MountPath) != path.Clean(dir) {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != vm.Name || v.ConfigMap == nil {
				continue
			}
			for _, cm := range m.ConfigMaps {
				if cm.Name == v.ConfigMap.Name {
					data, ok := cm.Data[name]
					return data, ok
				}
			}
		}
	}
	return "", false
}

// mongoUsersOf reads the user an init container creates: MONGO_DATABASE's
// user, with MONGO_PASSWORD's password.
func mongoUsersOf(pod corev1.PodSpec, users map[string]secretKey) []string {
	var found []string
	for _, ic := range pod.InitContainers {
		env, _ := envByName(ic)
		db, pw := env["MONGO_DATABASE"], env["MONGO_PASSWORD"]
		if db.Value == "" || (pw.Value == "" && pw.ValueFrom == nil) {
			continue
		}
		ref := secretRef(pw)
		if ref == nil || isTrue(ref.Optional) {
			found = append(found, fmt.Sprintf("%s: the password of MongoDB user %s does not come from a secret", ic.Name, db.Value))
			continue
		}
		users[db.Value] = secretKey{ref.Name, ref.Key}
	}
	if len(users) == 0 {
		found = append(found, "no init container creates a MongoDB user from a secret (MONGO_DATABASE, MONGO_PASSWORD)")
	}
	return found
}

// passwordFromSecret: v is a reference to one of c's variables ($NAME, as the
// NATS configuration reads the environment, or $(NAME), as Kubernetes expands
// arguments) that comes from a secret, never a password written down.
func passwordFromSecret(c corev1.Container, v, what string) (secretKey, string) {
	name, ok := variableRef(v)
	if !ok {
		return secretKey{}, fmt.Sprintf("the password of %s is written in the manifests, not taken from a secret", what)
	}
	env, _ := envByName(c)
	ref := secretRef(env[name])
	if ref == nil || isTrue(ref.Optional) {
		return secretKey{}, fmt.Sprintf("the password of %s is %s, which does not come from a secret", what, name)
	}
	return secretKey{ref.Name, ref.Key}, ""
}

var variable = regexp.MustCompile(`^\$(?:\(([A-Za-z_][A-Za-z0-9_]*)\)|([A-Za-z_][A-Za-z0-9_]*))$`)

func variableRef(v string) (string, bool) {
	m := variable.FindStringSubmatch(v)
	if m == nil {
		return "", false
	}
	return m[1] + m[2], true
}

// brokerCredentials: NATS_USER is a user the broker admits, and NATS_PASSWORD
// comes from that user's secret key.
func brokerCredentials(env map[string]corev1.EnvVar, stores map[string]store) (user string, key secretKey, problem string) {
	user = env["NATS_USER"].Value
	ref := secretRef(env["NATS_PASSWORD"])
	if user == "" {
		return "", secretKey{}, "NATS_USER is not set: the broker refuses a client without credentials"
	}
	if ref == nil || isTrue(ref.Optional) {
		return user, secretKey{}, "NATS_PASSWORD does not come from a secret"
	}
	key = secretKey{ref.Name, ref.Key}
	host := ""
	if urls, err := ParseURLList(env["NATS_URL"].Value); err == nil {
		host = StoreOfHost(urls[0].Hostname())
	}
	st, ok := stores[host]
	if !ok || !isBroker(st.kind) {
		return user, key, fmt.Sprintf("NATS_URL names %q, no broker of these manifests", host)
	}
	if want, ok := st.users[user]; !ok || want != key {
		return user, key, fmt.Sprintf("broker user %s with password %s is not one the broker admits", user, key)
	}
	return user, key, ""
}

// urlCredentials: a MONGO_URI or REDIS_URL carries a user the store it names
// admits, with a password that is a variable from that user's secret key.
func urlCredentials(env map[string]corev1.EnvVar, e corev1.EnvVar, stores map[string]store) string {
	// Every server of a list carries the same credentials.
	urls, err := ParseURLList(e.Value)
	if err != nil {
		return fmt.Sprintf("%s does not parse", e.Name)
	}
	u := urls[0]
	st, ok := stores[StoreOfHost(u.Hostname())]
	if !ok {
		return "" // another check names a host nothing serves
	}
	pw, hasPassword := u.User.Password()
	if u.User == nil || !hasPassword {
		return fmt.Sprintf("%s carries no credentials, and %s refuses a client without", e.Name, u.Hostname())
	}
	name, ok := variableRef(pw)
	if !ok {
		return fmt.Sprintf("%s has its password written in the manifests, not taken from a secret", e.Name)
	}
	ref := secretRef(env[name])
	if ref == nil || isTrue(ref.Optional) {
		return fmt.Sprintf("%s's password %s does not come from a secret", e.Name, name)
	}
	user := u.User.Username()
	if st.kind == "redis" {
		user = ""
	}
	if want, ok := st.users[user]; !ok || want != (secretKey{ref.Name, ref.Key}) {
		return fmt.Sprintf("%s: user %q with password %s/%s is not one %s admits", e.Name, user, ref.Name, ref.Key, u.Hostname())
	}
	return ""
}

func argAfter(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}
