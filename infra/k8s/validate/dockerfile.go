package validate

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// Dockerfile is the part of a Dockerfile the checks read: its stages, and per
// stage the instructions that decide what the image is built from and runs as.
type Dockerfile struct {
	Stages []Stage
	// Args are the global ARGs (before the first FROM) with their defaults.
	Args map[string]string
}

// Stage is one FROM ... [AS name] section.
type Stage struct {
	Name   string // "" when unnamed
	From   string // a base image, or the name of an earlier stage
	Args   map[string]string
	Copies []Copy
	User   string // the last USER in this stage ("" if none)
}

// Copy is a COPY or ADD instruction.
type Copy struct {
	From    string // --from stage or image; "" copies from the build context
	Sources []string
}

var varRef = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)

// ParseDockerfile reads the instructions the checks need; everything else
// (RUN, ENV, ...) is skipped.
func ParseDockerfile(data []byte) (*Dockerfile, error) {
	instructions, err := instructionsOf(data)
	if err != nil {
		return nil, err
	}
	df := &Dockerfile{Args: map[string]string{}}
	for _, fields := range instructions {
		if err := df.apply(fields); err != nil {
			return nil, err
		}
	}
	if len(df.Stages) == 0 {
		return nil, fmt.Errorf("no FROM")
	}
	return df, nil
}

// instructionsOf splits a Dockerfile into its instructions' fields, joining
// continued lines and dropping comments (also those inside a continuation).
func instructionsOf(data []byte) ([][]string, error) {
	var out [][]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	var line strings.Builder
	for sc.Scan() {
		trimmed := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(trimmed, "#") || (line.Len() == 0 && trimmed == "") {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			line.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		line.WriteString(trimmed)
		if fields := strings.Fields(line.String()); len(fields) > 0 {
			out = append(out, fields)
		}
		line.Reset()
	}
	return out, sc.Err()
}

// apply records one instruction: FROM opens a stage, ARG declares a variable
// (global before the first FROM), COPY/ADD and USER belong to the open stage.
func (df *Dockerfile) apply(fields []string) error {
	var cur *Stage
	if len(df.Stages) > 0 {
		cur = &df.Stages[len(df.Stages)-1]
	}
	switch strings.ToUpper(fields[0]) {
	case "FROM":
		st, err := parseFrom(fields[1:])
		if err != nil {
			return err
		}
		df.Stages = append(df.Stages, st)
	case "ARG":
		args := df.Args
		if cur != nil {
			args = cur.Args
		}
		for _, a := range fields[1:] {
			name, def, _ := strings.Cut(a, "=")
			args[name] = def
		}
	case "COPY", "ADD":
		if cur == nil {
			return fmt.Errorf("%s before FROM", fields[0])
		}
		c, err := parseCopy(fields)
		if err != nil {
			return err
		}
		cur.Copies = append(cur.Copies, c)
	case "USER":
		if cur != nil && len(fields) > 1 {
			cur.User = fields[1]
		}
	}
	return nil
}

// parseFrom reads FROM's arguments: [--flags] image [AS name].
func parseFrom(args []string) (Stage, error) {
	st := Stage{Args: map[string]string{}}
	rest := dropFlags(args)
	if len(rest) == 0 {
		return st, fmt.Errorf("FROM without an image")
	}
	st.From = rest[0]
	if len(rest) == 3 && strings.EqualFold(rest[1], "AS") {
		st.Name = rest[2]
	}
	return st, nil
}

// parseCopy reads COPY or ADD: [--from=stage] [other flags] source... destination.
func parseCopy(fields []string) (Copy, error) {
	c := Copy{}
	var rest []string
	for _, f := range fields[1:] {
		if v, ok := strings.CutPrefix(f, "--from="); ok {
			c.From = v
		} else if !strings.HasPrefix(f, "--") {
			rest = append(rest, f)
		}
	}
	if len(rest) < 2 {
		return c, fmt.Errorf("%s needs a source and a destination", fields[0])
	}
	c.Sources = rest[:len(rest)-1]
	return c, nil
}

func dropFlags(fields []string) []string {
	var out []string
	for _, f := range fields {
		if !strings.HasPrefix(f, "--") {
			out = append(out, f)
		}
	}
	return out
}

// Stage returns the stage called name, or nil.
func (d *Dockerfile) Stage(name string) *Stage {
	for i := range d.Stages {
		if d.Stages[i].Name == name {
			return &d.Stages[i]
		}
	}
	return nil
}

// Target returns the stage a build with target builds: the named one, or the
// last stage when target is empty.
func (d *Dockerfile) Target(target string) *Stage {
	if target == "" {
		return &d.Stages[len(d.Stages)-1]
	}
	return d.Stage(target)
}

// Chain returns the stages a target builds on through FROM, target first.
func (d *Dockerfile) Chain(target *Stage) []*Stage {
	var out []*Stage
	for s := target; s != nil; s = d.Stage(s.From) {
		out = append(out, s)
		if len(out) > len(d.Stages) {
			break
		}
	}
	return out
}

// Needed returns every stage a build of target runs: its FROM chain and the
// stages it copies from, transitively.
func (d *Dockerfile) Needed(target *Stage) []*Stage {
	seen := map[*Stage]bool{}
	var out []*Stage
	var visit func(s *Stage)
	visit = func(s *Stage) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		out = append(out, s)
		visit(d.Stage(s.From))
		for _, c := range s.Copies {
			if c.From != "" {
				visit(d.Stage(c.From))
			}
		}
	}
	visit(target)
	return out
}

// RunsAs is the user the target stage's image runs as: its last USER, or the
// one it inherits from an earlier stage it is built FROM.
func (d *Dockerfile) RunsAs(target *Stage) string {
	for _, s := range d.Chain(target) {
		if s.User != "" {
			return s.User
		}
	}
	return ""
}

func expand(s string, vars map[string]string) string {
	return varRef.ReplaceAllStringFunc(s, func(ref string) string {
		name := varRef.FindStringSubmatch(ref)[1]
		return vars[name]
	})
}

// DockerIgnore answers whether the build context sends a path to the builder.
type DockerIgnore struct {
	pm *patternmatcher.PatternMatcher
}

// LoadDockerIgnore reads the ignore file the builder uses for this Dockerfile:
// <Dockerfile>.dockerignore next to it if present (BuildKit's rule), else
// .dockerignore at the context root; none means nothing is ignored.
func LoadDockerIgnore(contextDir, dockerfile string) (*DockerIgnore, error) {
	for _, p := range []string{dockerfile + ".dockerignore", filepath.Join(contextDir, ".dockerignore")} {
		f, err := os.Open(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		patterns, err := ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		pm, err := patternmatcher.New(patterns)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return &DockerIgnore{pm: pm}, nil
	}
	return &DockerIgnore{}, nil
}

// Sends reports whether rel (slash-separated, relative to the context) reaches
// the builder.
func (di *DockerIgnore) Sends(rel string) bool {
	if di.pm == nil || rel == "." {
		return true
	}
	ignored, err := di.pm.MatchesOrParentMatches(path.Clean(rel))
	return err == nil && !ignored
}

// CheckDockerBuild checks that an image can be built as skaffold builds it:
// the context and Dockerfile exist, the target is a stage, base images are
// pinned, every file copied from the context exists and survives the ignore
// file, and the image does not run as root. For a Go service it also checks
// that every file `go build` reads reaches the builder.
func CheckDockerBuild(root string, a SkaffoldArtifact) []string {
	where := fmt.Sprintf("artifact %s: ", a.Image)
	b, problem := loadDockerBuild(root, a)
	if problem != "" {
		return []string{where + problem}
	}
	var found, unprefixed []string
	for _, s := range b.df.Needed(b.target) {
		found = append(found, b.stageInputs(s)...)
	}
	if u := b.df.RunsAs(b.target); u == "" || u == "root" || u == "0" || strings.HasPrefix(u, "0:") || strings.HasPrefix(u, "root:") {
		found = append(found, fmt.Sprintf("%s: stage %q runs as root (USER %q)", b.dfName, b.target.Name, u))
	}
	if svc := a.Service(); svc != "" {
		found = append(found, b.goServiceInputs(svc, &unprefixed)...)
	}
	return append(prefixed(where, found), unprefixed...)
}

// dockerBuild is one artifact's build as skaffold runs it.
type dockerBuild struct {
	artifact           SkaffoldArtifact
	contextDir, dfName string
	df                 *Dockerfile
	target             *Stage
	ignore             *DockerIgnore
	// buildArgs are the Dockerfile's global ARGs with skaffold's buildArgs over them.
	buildArgs map[string]string
}

// loadDockerBuild reads what building the artifact starts from: its context,
// Dockerfile, target stage and ignore file; problem says which is missing.
func loadDockerBuild(root string, a SkaffoldArtifact) (b *dockerBuild, problem string) {
	if a.Docker == nil {
		return nil, "only docker artifacts are modelled"
	}
	b = &dockerBuild{artifact: a, contextDir: filepath.Join(root, a.Context), dfName: a.Docker.Dockerfile}
	if st, err := os.Stat(b.contextDir); err != nil || !st.IsDir() {
		return nil, fmt.Sprintf("context %q is not a directory", a.Context)
	}
	if b.dfName == "" {
		b.dfName = "Dockerfile"
	}
	dfPath := filepath.Join(b.contextDir, b.dfName)
	data, err := os.ReadFile(dfPath)
	if err != nil {
		return nil, fmt.Sprintf("Dockerfile: %v", err)
	}
	if b.df, err = ParseDockerfile(data); err != nil {
		return nil, fmt.Sprintf("%s: %v", b.dfName, err)
	}
	if b.target = b.df.Target(a.Docker.Target); b.target == nil {
		return nil, fmt.Sprintf("target %q is not a stage of %s", a.Docker.Target, b.dfName)
	}
	if b.ignore, err = LoadDockerIgnore(b.contextDir, dfPath); err != nil {
		return nil, err.Error()
	}
	b.buildArgs = map[string]string{}
	for k, v := range b.df.Args {
		b.buildArgs[k] = v
	}
	for k, v := range a.Docker.BuildArgs {
		if v != nil {
			b.buildArgs[k] = *v
		}
	}
	return b, ""
}

// stageInputs: a needed stage's base image is pinned, and every source it
// copies from the context exists and is sent to the builder.
func (b *dockerBuild) stageInputs(s *Stage) []string {
	var found []string
	if b.df.Stage(s.From) == nil {
		if problem := checkBaseImage(expand(s.From, b.buildArgs)); problem != "" {
			found = append(found, fmt.Sprintf("%s: %s", b.dfName, problem))
		}
	}
	// A stage's ARG takes the build argument when one is given, else its default.
	vars := map[string]string{}
	for k, def := range s.Args {
		if v, ok := b.buildArgs[k]; ok {
			vars[k] = v
		} else {
			vars[k] = def
		}
	}
	for _, c := range s.Copies {
		if c.From != "" {
			continue
		}
		for _, src := range c.Sources {
			found = append(found, b.copySource(expand(src, vars))...)
		}
	}
	return found
}

// copySource: one COPY source names paths inside the context that exist and
// that .dockerignore does not withhold.
func (b *dockerBuild) copySource(src string) []string {
	if strings.Contains(src, "$") || strings.HasPrefix(src, "/") || strings.HasPrefix(path.Clean(src), "..") {
		return []string{fmt.Sprintf("%s: COPY source %q does not name a path in the context", b.dfName, src)}
	}
	matches, _ := filepath.Glob(filepath.Join(b.contextDir, filepath.FromSlash(src)))
	if len(matches) == 0 {
		return []string{fmt.Sprintf("%s: COPY source %q does not exist in context %q", b.dfName, src, b.artifact.Context)}
	}
	var found []string
	for _, m := range matches {
		rel, _ := filepath.Rel(b.contextDir, m)
		if !b.ignore.Sends(filepath.ToSlash(rel)) {
			found = append(found, fmt.Sprintf("%s: COPY source %q is excluded by the context's .dockerignore", b.dfName, rel))
		}
	}
	return found
}

// goServiceInputs: every file `go build` of the service reads (its module and
// common) reaches the builder, and the service has a main package. A module
// that cannot be read is reported in unreadable.
func (b *dockerBuild) goServiceInputs(svc string, unreadable *[]string) []string {
	var found []string
	for _, module := range []string{"common", svc} {
		for _, p := range goBuildInputs(b.contextDir, module, unreadable) {
			if !b.ignore.Sends(p) {
				found = append(found, fmt.Sprintf("%s is needed by go build but excluded by .dockerignore", p))
			}
		}
	}
	if _, err := os.Stat(filepath.Join(b.contextDir, svc, "main.go")); err != nil {
		found = append(found, fmt.Sprintf("SERVICE=%s has no %s/main.go", svc, svc))
	}
	return found
}

// checkBaseImage wants an explicit tag or digest other than latest.
func checkBaseImage(image string) string {
	if strings.Contains(image, "@sha256:") {
		return ""
	}
	nameTag := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(nameTag, ":")
	if !ok || tag == "" || tag == "latest" {
		return fmt.Sprintf("base image %q has no pinned tag", image)
	}
	return ""
}

// goBuildInputs lists, relative to contextDir, the files `go build` reads in
// a module folder: go.mod, go.sum, non-test Go files and what they embed.
func goBuildInputs(contextDir, module string, problems *[]string) []string {
	out := []string{module + "/go.mod", module + "/go.sum"}
	dir := filepath.Join(contextDir, module)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(contextDir, p)
		out = append(out, filepath.ToSlash(rel))
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "//go:embed "); ok {
				for _, pat := range strings.Fields(rest) {
					matches, _ := filepath.Glob(filepath.Join(filepath.Dir(p), strings.Trim(pat, `"`)))
					for _, m := range matches {
						r, _ := filepath.Rel(contextDir, m)
						out = append(out, filepath.ToSlash(r))
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		*problems = append(*problems, fmt.Sprintf("reading %s: %v", module, err))
	}
	return out
}
