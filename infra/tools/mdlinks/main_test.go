package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func write(t *testing.T, root, name, text string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(name))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
}

func targets(broken []brokenLink) []string {
	var out []string
	for _, b := range broken {
		out = append(out, b.File+":"+b.Target)
	}
	return out
}

func TestBrokenLinksAreNamedAndGoodOnesAreNot(t *testing.T) {
	root := t.TempDir()
	write(t, root, "docs/guide.md", "# Guide\n\n## 5. TLS for `ticketing.dev`\n\n## Decisions\n\n## Decisions\n\n<a id=\"custom\"></a>\n")
	write(t, root, "docs/shot.png", "png")
	write(t, root, "README.md", `# Project

Good: [guide](docs/guide.md), [a heading](docs/guide.md#5-tls-for-ticketingdev),
[the second of two](docs/guide.md#decisions-1), [explicit](docs/guide.md#custom),
![a shot](docs/shot.png "title"), [a folder](docs/), [from the root](/docs/guide.md),
[here](#project), <img src="docs/shot.png" width="200">, [web](https://example.com/nowhere.md),
[ref]: docs/guide.md

Broken: [gone](docs/missing.md), ![no image](shots/home.png),
[no heading](docs/guide.md#nowhere), [here either](#missing), <img src="img/x.png">,
[bad ref]: nowhere.md

`+"`[in code](not/checked.md)`"+`

`+"```"+`
[in a fence](not/checked/either.md)
`+"```"+`
`)
	write(t, root, "node_modules/pkg/README.md", "[dependency's own](missing.md)\n")

	broken, err := brokenLinks(root)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{
		"README.md:docs/missing.md",
		"README.md:shots/home.png",
		"README.md:docs/guide.md#nowhere",
		"README.md:#missing",
		"README.md:img/x.png",
		"README.md:nowhere.md",
	}, targets(broken))
	for _, b := range broken {
		if b.Target == "docs/guide.md#nowhere" {
			assert.Equal(t, "README.md:10: docs/guide.md#nowhere: no heading or anchor #nowhere in guide.md", b.String())
		}
	}
}

func TestLinksResolveFromTheirOwnFolder(t *testing.T) {
	root := t.TempDir()
	write(t, root, "docs/a.md", "[up](../README.md) [beside](b.md) [wrong](README.md)\n")
	write(t, root, "docs/b.md", "b\n")
	write(t, root, "README.md", "root\n")

	broken, err := brokenLinks(root)
	require.NoError(t, err)
	assert.Equal(t, []string{"docs/a.md:README.md"}, targets(broken))
}

func TestGitHubHeadingSlugs(t *testing.T) {
	for heading, want := range map[string]string{
		"9. A GKE development cluster with Cloud Build": "9-a-gke-development-cluster-with-cloud-build",
		"Why a second ingress host?":                    "why-a-second-ingress-host",
		"Parked events":                                 "parked-events",
		"The [runner](infra/runner) and `make run`":     "the-runner-and-make-run",
		"snake_case & dashes-too":                       "snake_case--dashes-too",
	} {
		assert.Equal(t, want, headingSlug(heading), heading)
	}
}
