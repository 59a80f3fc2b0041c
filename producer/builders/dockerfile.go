package builders

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
)

// GradleInitPath is where the Gradle builder's init script lies in the build stage; the caller
// puts GradleInitScript there through the build context (ContextFiles).
const GradleInitPath = "/build/lambda-init.gradle"

// ContextFiles are generated files the build stage needs, by their path in the context below
// ctxDir (the same directory Stage is given).
func (p Plan) ContextFiles(ctxDir string) map[string]string {
	if p.Builder == Gradle {
		return map[string]string{path.Join(ctxDir, "lambda-init.gradle"): GradleInitScript}
	}
	return nil
}

// Stage writes the build stage named stage. src is the code's directory in the build context,
// ctxDir a directory of the context for ContextFiles. The manifests are copied and the
// dependency step run before the rest of the code is copied, so Docker's layer cache reruns
// that step only when a manifest, the build image or a mirror setting changes.
func (p Plan) Stage(stage, src, ctxDir string) string {
	if p.Builder == "" || (p.Deps == "" && p.Build == "" && len(p.Copies) == 0) {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Build stage: %s in %s (override with %s).\n", p.Builder, p.Image, p.ImageVariable)
	fmt.Fprintf(&b, "FROM %s AS %s\n", p.Image, stage)
	for _, k := range slices.Sorted(maps.Keys(p.Args)) {
		fmt.Fprintf(&b, "ARG %s\n", k)
	}
	fmt.Fprintf(&b, "WORKDIR %s\n", SrcDir)
	if p.Deps != "" {
		for _, m := range p.Manifests {
			if strings.HasSuffix(m, "/") {
				fmt.Fprintf(&b, "COPY %s ./%s\n", jsonArgs(path.Join(src, m)+"/", ""), m)
				continue
			}
			fmt.Fprintf(&b, "COPY %s\n", jsonArgs(path.Join(src, m), "./"))
		}
		fmt.Fprintf(&b, "RUN mkdir -p %s %s && %s\n", DepDir, OutDir, p.Deps)
	} else {
		fmt.Fprintf(&b, "RUN mkdir -p %s %s\n", DepDir, OutDir)
	}
	if p.Build != "" {
		for target := range p.ContextFiles(ctxDir) {
			fmt.Fprintf(&b, "COPY %s\n", jsonArgs(target, "/build/"+path.Base(target)))
		}
		fmt.Fprintf(&b, "COPY %s/ ./\n", src)
		fmt.Fprintf(&b, "RUN %s\n", p.Build)
	}
	return b.String()
}

// CopyLines are the function image's COPY instructions: the build stage's outputs, then the
// code itself from src in the context, into root (/var/task or /opt).
func (p Plan) CopyLines(stage, src, root string) string {
	var b strings.Builder
	for _, c := range p.Copies {
		to := root + "/"
		if c.To != "" {
			to = path.Join(root, c.To) + "/"
		}
		fmt.Fprintf(&b, "COPY --from=%s %s %s\n", stage, c.From, to)
	}
	switch p.Source {
	case NoSource:
	case "":
		fmt.Fprintf(&b, "COPY %s/ %s/\n", src, root)
	default:
		fmt.Fprintf(&b, "COPY %s/ %s/\n", src, path.Join(root, p.Source))
	}
	return b.String()
}

// jsonArgs renders a COPY's arguments in exec form, which takes paths with spaces.
func jsonArgs(src, dest string) string {
	if dest == "" {
		return shellQuote(src)
	}
	return fmt.Sprintf("[%q, %q]", src, dest)
}

// shellQuote quotes s for sh when it holds anything but safe characters.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}
