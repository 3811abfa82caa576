// Command funclen reports every function outside _test.go files whose body
// spans more lines than a limit, so that long functions are split into one
// function per step before they grow further (issue 12: none over 60).
//
//	funclen [-max 60] DIR...
//
// A function's length is counted from its `func` line to its closing brace,
// both included. Folders named node_modules, testdata or vendor, and hidden
// ones, are skipped. It prints one line per offender, longest first, and
// exits 1 if there is any.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	max := flag.Int("max", 60, "the most lines a function may span")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: funclen [-max N] DIR...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	long, err := longFunctions(flag.Args(), *max)
	if err != nil {
		fmt.Fprintln(os.Stderr, "funclen:", err)
		os.Exit(2)
	}
	for _, f := range long {
		fmt.Println(f)
	}
	if len(long) > 0 {
		fmt.Printf("%d functions longer than %d lines: split each into one function per step\n", len(long), *max)
		os.Exit(1)
	}
}

// function is one function found longer than the limit.
type function struct {
	Pos   token.Position
	Name  string // "Name", or "(*Recv).Name" for a method, as gocyclo names it
	Lines int
}

func (f function) String() string {
	return fmt.Sprintf("%d %s %s:%d", f.Lines, f.Name, f.Pos.Filename, f.Pos.Line)
}

// longFunctions lists, longest first, the functions under roots that span
// more than max lines.
func longFunctions(roots []string, max int) ([]function, error) {
	var long []function
	fset := token.NewFileSet()
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != root && skippedDir(d.Name()) {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			found, err := longInFile(fset, p, max)
			long = append(long, found...)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	sort.SliceStable(long, func(i, j int) bool { return long[i].Lines > long[j].Lines })
	return long, nil
}

func skippedDir(name string) bool {
	return name == "node_modules" || name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".")
}

// longInFile lists one file's functions (and methods) longer than max lines.
func longInFile(fset *token.FileSet, path string, max int) ([]function, error) {
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var long []function
	for _, decl := range f.Decls {
		fd, ok := decl.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		start, end := fset.Position(fd.Pos()), fset.Position(fd.End())
		if lines := end.Line - start.Line + 1; lines > max {
			long = append(long, function{Pos: start, Name: funcName(fd), Lines: lines})
		}
	}
	return long, nil
}

// funcName names a function as gocyclo does, so both tools' lines read alike.
func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	return "(" + recvType(fd.Recv.List[0].Type) + ")." + fd.Name.Name
}

func recvType(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return "*" + recvType(t.X)
	case *ast.IndexExpr: // a generic type's receiver, T[K]
		return recvType(t.X)
	case *ast.IndexListExpr:
		return recvType(t.X)
	case *ast.Ident:
		return t.Name
	}
	return "?"
}
