package validate

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ContractEnv is DESIGN.md §7 per service: the variables each service needs
// set in Kubernetes. PORT and NATS_CLUSTER_ID have defaults in the code but
// are set explicitly so the manifests say where everything is; COOKIE_SECURE
// stays true behind TLS; auth, orders and payments trust the ingress's
// X-Forwarded-For (their rate limits count per client address); every
// service with a browser-facing API names the ingress's origin as the only
// one allowed to make unsafe requests.
var ContractEnv = map[string][]string{
	"auth":       {"PORT", "MONGO_URI", "JWT_KEY", "NATS_URL", "NATS_CLUSTER_ID", "NATS_CLIENT_ID", "COOKIE_SECURE", "TRUST_PROXY", "PUBLIC_ORIGINS"},
	"tickets":    {"PORT", "MONGO_URI", "JWT_KEY", "NATS_URL", "NATS_CLUSTER_ID", "NATS_CLIENT_ID", "COOKIE_SECURE", "PUBLIC_ORIGINS"},
	"orders":     {"PORT", "MONGO_URI", "JWT_KEY", "NATS_URL", "NATS_CLUSTER_ID", "NATS_CLIENT_ID", "COOKIE_SECURE", "ORDER_EXPIRATION_WINDOW", "MAX_OPEN_ORDERS", "TRUST_PROXY", "PUBLIC_ORIGINS"},
	"expiration": {"PORT", "REDIS_URL", "NATS_URL", "NATS_CLUSTER_ID", "NATS_CLIENT_ID"},
	"payments":   {"PORT", "MONGO_URI", "JWT_KEY", "NATS_URL", "NATS_CLUSTER_ID", "NATS_CLIENT_ID", "COOKIE_SECURE", "STRIPE_KEY", "STRIPE_WEBHOOK_SECRET", "MAX_PAYMENT_ATTEMPTS", "TRUST_PROXY", "PUBLIC_ORIGINS"},
	// The client stops at start without API_BASE_URL (client/lib/config.ts).
	"client": {"PORT", "API_BASE_URL"},
}

// RequiredEnvInSource reads what a Go service's internal/app package makes
// required at start: the parts of common/config.Service it declares
// (Mongo -> MONGO_URI, JWT -> JWT_KEY, NATS -> NATS_URL and NATS_CLIENT_ID)
// and every env.Required("NAME") it calls. A service that is not written yet
// requires nothing here; ContractEnv still applies.
func RequiredEnvInSource(root, service string) ([]string, error) {
	dir := filepath.Join(root, service, "internal", "app")
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, 0)
		if err != nil {
			return nil, err
		}
		for _, n := range requiredInFile(f) {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// requiredInFile lists the variables one file makes required: by the parts
// of a config.Service literal it turns on, and by env.Required calls.
func requiredInFile(f *ast.File) []string {
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CompositeLit:
			if sel, ok := n.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Service" && isIdent(sel.X, "config") {
				out = append(out, servicePartsEnv(n)...)
			}
		case *ast.CallExpr:
			if name, ok := requiredCall(n); ok {
				out = append(out, name)
			}
		}
		return true
	})
	return out
}

// servicePartsEnv maps the parts a config.Service literal sets to true to the
// variables common/config then requires.
func servicePartsEnv(lit *ast.CompositeLit) []string {
	var out []string
	for _, el := range lit.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok || !isIdent(kv.Value, "true") {
			continue
		}
		switch {
		case isIdent(kv.Key, "Mongo"):
			out = append(out, "MONGO_URI")
		case isIdent(kv.Key, "JWT"):
			out = append(out, "JWT_KEY")
		case isIdent(kv.Key, "NATS"):
			out = append(out, "NATS_URL", "NATS_CLIENT_ID")
		}
	}
	return out
}

// requiredCall reads the name of a X.Required("NAME") call.
func requiredCall(call *ast.CallExpr) (string, bool) {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "Required" || len(call.Args) != 1 {
		return "", false
	}
	lit, ok := call.Args[0].(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	v, err := strconv.Unquote(lit.Value)
	return v, err == nil
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// ShutdownTimeout reads common/server.DefaultShutdownTimeout, the time a
// service takes to drain at SIGTERM, from the source (written as
// `N * time.Second`).
func ShutdownTimeout(root string) (time.Duration, error) {
	p := filepath.Join(root, "common", "server", "server.go")
	f, err := parser.ParseFile(token.NewFileSet(), p, nil, 0)
	if err != nil {
		return 0, err
	}
	var found time.Duration
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "DefaultShutdownTimeout" || len(vs.Values) != 1 {
			return true
		}
		be, ok := vs.Values[0].(*ast.BinaryExpr)
		if !ok || be.Op != token.MUL {
			return true
		}
		lit, ok := be.X.(*ast.BasicLit)
		unit, ok2 := be.Y.(*ast.SelectorExpr)
		if !ok || !ok2 || !isIdent(unit.X, "time") {
			return true
		}
		n64, err := strconv.ParseInt(lit.Value, 10, 64)
		if err != nil {
			return true
		}
		units := map[string]time.Duration{"Millisecond": time.Millisecond, "Second": time.Second, "Minute": time.Minute}
		if u, ok := units[unit.Sel.Name]; ok {
			found = time.Duration(n64) * u
		}
		return false
	})
	if found == 0 {
		return 0, fmt.Errorf("%s: DefaultShutdownTimeout = N * time.Second not found", p)
	}
	return found, nil
}
