package validate

import (
	"regexp"
	"strings"
)

// DocumentedSecret is a secret the deployment guide tells users to create
// with `kubectl create secret`.
type DocumentedSecret struct {
	Type      string // "generic" or "tls"
	Name      string
	Namespace string // "" when the command names none
	Keys      map[string]bool
}

var createSecret = regexp.MustCompile(`\bkubectl\b.*\bcreate\s+secret\s+(generic|tls)\s+([a-z0-9][a-z0-9.-]*)`)

// SecretsInDoc finds every `kubectl create secret generic|tls` command in a
// Markdown document (lines continued with a backslash are joined) and the keys
// each creates. The same secret may appear in several commands (alternatives,
// an optional key); their keys are merged.
func SecretsInDoc(doc string) map[string]*DocumentedSecret {
	out := map[string]*DocumentedSecret{}
	for _, line := range joinContinuations(doc) {
		m := createSecret.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		s := out[m[2]]
		if s == nil {
			s = &DocumentedSecret{Type: m[1], Name: m[2], Keys: map[string]bool{}}
			out[m[2]] = s
		}
		args := strings.Fields(line)
		for i, a := range args {
			switch {
			case a == "-n" || a == "--namespace":
				if i+1 < len(args) {
					s.Namespace = args[i+1]
				}
			case strings.HasPrefix(a, "--namespace="):
				s.Namespace = strings.TrimPrefix(a, "--namespace=")
			case strings.HasPrefix(a, "--from-literal=") || strings.HasPrefix(a, "--from-file="):
				_, kv, _ := strings.Cut(a, "=")
				key, _, _ := strings.Cut(kv, "=")
				s.Keys[strings.Trim(key, `"'`)] = true
			}
		}
		if m[1] == "tls" {
			s.Keys["tls.crt"], s.Keys["tls.key"] = true, true
		}
	}
	return out
}

func joinContinuations(doc string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

// ProdRunID is the fixed skaffold run id production deploys carry, so an
// unchanged store's pod template stays unchanged (docs/kubernetes.md §8).
const ProdRunID = "skaffold.dev/run-id=ticketing-prod"

var prodRun = regexp.MustCompile(`\bskaffold\s+run\b[^\n]*-p\s+\S*\bprod\b`)

// CheckProdDeployCommands: every `skaffold run` of the prod profile in text
// (a Markdown guide, a workflow, skaffold.yaml's comments) pins the run id; a
// fresh one per run restarts every store on every deploy.
func CheckProdDeployCommands(name, text string) []string {
	var problems []string
	for _, line := range joinContinuations(text) {
		if prodRun.MatchString(line) && !strings.Contains(line, ProdRunID) {
			problems = append(problems, name+": "+strings.TrimSpace(line)+": no --label "+ProdRunID+", so every deploy restarts every store")
		}
	}
	return problems
}
