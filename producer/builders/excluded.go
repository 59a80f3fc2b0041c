package builders

import "strings"

// copyExcluded is what `sam build` leaves out of every function's code when it copies it
// (aws-lambda-builders: the EXCLUDED_FILES of its workflows, applied as shutil.ignore_patterns:
// name patterns matched at every depth): the SAM build output and the repository's history.
var copyExcluded = []string{".aws-sam", ".git"}

// pythonExcluded is what its Python workflows (pip, uv) leave out besides: a trimmed
// Python .gitignore — compiled files, packaging, test and type-checker caches, environments.
var pythonExcluded = []string{
	".chalice", ".gitignore",
	"*.pyc", "__pycache__", "*.so",
	".Python", "*.egg-info", "*.egg",
	"pip-log.txt", "pip-delete-this-directory.txt",
	"htmlcov", ".tox", ".nox", ".coverage", ".cache", ".pytest_cache",
	".python-version",
	".mypy_cache", ".dmypy.json", ".pyre",
	".env", ".venv", "venv", "venv.bak", "env.bak",
}

// ExcludedFiles are the name patterns (path.Match, matched against each file and directory name
// at every depth) that `sam build` leaves out when it copies code of runtime built with
// buildMethod (Metadata.BuildMethod, "" when none): .aws-sam and .git always; the Python
// workflows' list for python*; node_modules for esbuild, which bundles what it needs.
func ExcludedFiles(runtime, buildMethod string) []string {
	out := append([]string{}, copyExcluded...)
	method := strings.ToLower(strings.TrimSpace(buildMethod))
	switch {
	case method == "esbuild":
		out = append(out, "node_modules")
	case family(runtime) == "python" && (method == "" || family(method) == "python"):
		out = append(out, pythonExcluded...)
	}
	return out
}
