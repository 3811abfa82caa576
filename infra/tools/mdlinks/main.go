// Command mdlinks checks that every relative link and image in the
// repository's Markdown files leads somewhere: the file or folder exists and,
// for a #fragment into a Markdown file, that file has the heading (or an
// explicit anchor) the fragment names, as GitHub renders it.
//
//	mdlinks [ROOT]
//
// Links with a scheme (https:, mailto:, ...) are not followed: the check
// runs without a network. Code spans and fenced code blocks are not read.
// Folders named node_modules, and hidden ones, are skipped. It prints one line
// per broken link and exits 1 if there is any.
package main

import (
	"fmt"
	"io/fs"
	"iter"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
)

func main() {
	root := "."
	if len(os.Args) > 2 {
		fmt.Fprintln(os.Stderr, "usage: mdlinks [ROOT]")
		os.Exit(2)
	}
	if len(os.Args) == 2 {
		root = os.Args[1]
	}
	broken, err := brokenLinks(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mdlinks:", err)
		os.Exit(2)
	}
	for _, b := range broken {
		fmt.Println(b)
	}
	if len(broken) > 0 {
		fmt.Printf("%d links in Markdown files lead nowhere\n", len(broken))
		os.Exit(1)
	}
}

// link is one link or image target in a Markdown file.
type link struct {
	File   string // the Markdown file, relative to the root
	Line   int
	Target string
}

// brokenLink is a link and why it leads nowhere.
type brokenLink struct {
	link
	Why string
}

func (b brokenLink) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", b.File, b.Line, b.Target, b.Why)
}

// brokenLinks reads every Markdown file under root and lists the relative
// links that lead nowhere.
func brokenLinks(root string) ([]brokenLink, error) {
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.EqualFold(filepath.Ext(p), ".md") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	anchors := anchorCache{}
	var broken []brokenLink
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		rel, _ := filepath.Rel(root, f)
		for _, l := range linksIn(rel, string(data)) {
			if why := resolve(root, l, anchors); why != "" {
				broken = append(broken, brokenLink{l, why})
			}
		}
	}
	return broken, nil
}

var (
	// inlineLink matches [text](target "title") and ![alt](target); the
	// target may be wrapped in <>.
	inlineLink = regexp.MustCompile(`!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)`)
	// referenceDef matches a reference definition: [label]: target.
	referenceDef = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)`)
	// htmlLink matches the src or href of an HTML tag written in Markdown.
	htmlLink  = regexp.MustCompile(`<(?:img|a|source)\b[^>]*?\s(?:src|href)\s*=\s*["']([^"']+)["']`)
	codeSpan  = regexp.MustCompile("`+[^`]*`+")
	fenceLine = regexp.MustCompile("^\\s{0,3}(```|~~~)")
)

// linksIn lists the link targets of one Markdown file, outside code.
func linksIn(file, text string) []link {
	var out []link
	for n, line := range proseLines(text) {
		line = codeSpan.ReplaceAllString(line, "")
		add := func(target string) {
			out = append(out, link{File: file, Line: n, Target: strings.Trim(target, "<>")})
		}
		for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
			add(m[1])
		}
		for _, m := range htmlLink.FindAllStringSubmatch(line, -1) {
			add(m[1])
		}
		if m := referenceDef.FindStringSubmatch(line); m != nil {
			add(m[1])
		}
	}
	return out
}

// proseLines yields the lines of a Markdown text that are outside fenced code
// blocks, with their numbers from 1: code shows links, it does not make them.
func proseLines(text string) iter.Seq2[int, string] {
	return func(yield func(int, string) bool) {
		inFence := false
		for i, line := range strings.Split(text, "\n") {
			if fenceLine.MatchString(line) {
				inFence = !inFence
				continue
			}
			if !inFence && !yield(i+1, line) {
				return
			}
		}
	}
}

var scheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)

// resolve says why a link leads nowhere, or "" when it leads somewhere (or
// is external and not followed).
func resolve(root string, l link, anchors anchorCache) string {
	if scheme.MatchString(l.Target) || strings.HasPrefix(l.Target, "//") {
		return ""
	}
	target, fragment, _ := strings.Cut(l.Target, "#")
	target, _, _ = strings.Cut(target, "?")
	path, err := url.PathUnescape(target)
	if err != nil {
		return "not a valid path"
	}
	var file string
	switch {
	case path == "":
		file = filepath.Join(root, l.File) // a fragment into the same file
	case strings.HasPrefix(path, "/"):
		file = filepath.Join(root, filepath.FromSlash(path)) // from the repository's root, as GitHub reads it
	default:
		file = filepath.Join(root, filepath.Dir(l.File), filepath.FromSlash(path))
	}
	st, err := os.Stat(file)
	if err != nil {
		return "no such file or folder"
	}
	if fragment == "" || st.IsDir() || !strings.EqualFold(filepath.Ext(file), ".md") {
		return ""
	}
	ids, err := anchors.of(file)
	if err != nil {
		return err.Error()
	}
	if !ids[strings.ToLower(fragment)] {
		return fmt.Sprintf("no heading or anchor #%s in %s", fragment, filepath.Base(file))
	}
	return ""
}

// anchorCache holds each Markdown file's anchors, read once.
type anchorCache map[string]map[string]bool

func (c anchorCache) of(file string) (map[string]bool, error) {
	if ids, ok := c[file]; ok {
		return ids, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	ids := anchorsIn(string(data))
	c[file] = ids
	return ids, nil
}

var (
	atxHeading     = regexp.MustCompile(`^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$`)
	explicitAnchor = regexp.MustCompile(`<a\s[^>]*(?:name|id)\s*=\s*["']([^"']+)["']`)
	linkText       = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
)

// anchorsIn lists the anchors of a Markdown file: one per heading, named as
// GitHub names them (a repeated heading gets -1, -2, ...), and every explicit
// <a name> or id.
func anchorsIn(text string) map[string]bool {
	ids := map[string]bool{}
	seen := map[string]int{}
	for _, line := range proseLines(text) {
		for _, m := range explicitAnchor.FindAllStringSubmatch(line, -1) {
			ids[strings.ToLower(m[1])] = true
		}
		m := atxHeading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		slug := headingSlug(m[1])
		if n := seen[slug]; n > 0 {
			ids[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			ids[slug] = true
		}
		seen[slug]++
	}
	return ids
}

// headingSlug is GitHub's anchor for a heading: its text as rendered (link
// targets and markup dropped), lower-cased, spaces turned into hyphens and
// every other character but letters, digits, '-' and '_' removed.
func headingSlug(heading string) string {
	heading = linkText.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}
