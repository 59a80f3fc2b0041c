package runtimeconfig

import (
	"slices"
	"strings"
	"testing"

	"github.com/matryer/is"
)

func intp(n int) *int { return &n }

func fn(image string) Function { return Function{Image: image, Timeout: 3, MemorySize: 128} }

func TestMerge(t *testing.T) {
	a := Part{Template: "a/template.yaml", Config: Config{
		Functions: Functions{Functions: map[string]Function{"orders": fn("esb-orders:latest"), "shared": fn("esb-shared:latest")}},
		Routing: Routing{Routes: []Route{
			{Path: "/orders", Method: "POST", Function: "orders"},
			{Path: "/health", Method: "GET", Function: "shared"},
		}},
	}}
	b := Part{Template: "b/template.yaml", Config: Config{
		Functions: Functions{Functions: map[string]Function{"users": fn("esb-users:latest"), "shared": fn("esb-shared:latest")}},
		Routing: Routing{Routes: []Route{
			{Path: "/users/{id}", Method: "GET", Function: "users"},
			{Path: "/health", Method: "GET", Function: "shared"},
		}},
	}}
	cases := []struct {
		name      string
		parts     []Part
		functions []string // names, sorted
		routes    []string // keys, in order
		errs      []string // substrings of the error; nil: no error
	}{
		{name: "nothing", functions: []string{}, routes: []string{}},
		{name: "one template", parts: []Part{a}, functions: []string{"orders", "shared"}, routes: []string{"GET /health", "POST /orders"}},
		{
			name: "union; the same function and route defined identically are kept once", parts: []Part{a, b},
			functions: []string{"orders", "shared", "users"},
			routes:    []string{"GET /health", "POST /orders", "GET /users/{id}"},
		},
		{
			name: "one function, two images",
			parts: []Part{a, {Template: "c.yaml", Config: Config{Functions: Functions{Functions: map[string]Function{
				"orders": {Image: "esb-orders:v2", Timeout: 3, MemorySize: 128, Scaling: &Scaling{MaxCapacity: intp(2)}},
			}}}}},
			errs: []string{"function orders is defined differently by a/template.yaml and c.yaml (differs in image and scaling)"},
		},
		{
			name: "one route, two functions; every conflict named",
			parts: []Part{a, {Template: "c.yaml", Config: Config{
				Functions: Functions{Functions: map[string]Function{"orders": {Image: "other"}}},
				Routing:   Routing{Routes: []Route{{Path: "/orders", Method: "POST", Function: "create"}}},
			}}},
			errs: []string{
				"route POST /orders goes to function orders in a/template.yaml but to create in c.yaml",
				"function orders is defined differently by a/template.yaml and c.yaml",
			},
		},
		{
			name: "defaults: one non-empty block is kept",
			parts: []Part{
				{Template: "a.yaml", Config: Config{Functions: Functions{Defaults: map[string]any{}}}},
				{Template: "b.yaml", Config: Config{Functions: Functions{Defaults: map[string]any{"environment": map[string]any{"LOG_LEVEL": "INFO"}}}}},
			},
			functions: []string{}, routes: []string{},
		},
		{
			name: "defaults that differ",
			parts: []Part{
				{Template: "a.yaml", Config: Config{Functions: Functions{Defaults: map[string]any{"scaling": map[string]any{"max_capacity": 1}}}}},
				{Template: "b.yaml", Config: Config{Functions: Functions{Defaults: map[string]any{"scaling": map[string]any{"max_capacity": 2}}}}},
			},
			errs: []string{"the defaults block of b.yaml differs from the one of a.yaml"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			got, err := Merge(tc.parts)
			if tc.errs != nil {
				is.True(err != nil) // a conflict is an error
				for _, e := range tc.errs {
					if !strings.Contains(err.Error(), e) {
						t.Errorf("error %q lacks %q", err, e)
					}
				}
				return
			}
			is.NoErr(err)
			names := []string{}
			for n := range got.Functions.Functions {
				names = append(names, n)
			}
			slices.Sort(names)
			is.Equal(names, tc.functions)
			keys := []string{}
			for _, r := range got.Routing.Routes {
				keys = append(keys, r.Key())
			}
			is.Equal(keys, tc.routes)
		})
	}
}

func TestMergeDirs(t *testing.T) {
	fa := []byte("defaults: {}\nfunctions:\n  a:\n    image: esb-a:latest\n    timeout: 3\n")
	ra := []byte("routes:\n  - path: /a\n    method: get\n    function: a\n")
	fb := []byte("functions:\n  b:\n    image: reg:5010/esb-b:latest\n    custom: kept\n")
	cases := []struct {
		name  string
		parts []DirPart
		files map[string]string
		errs  []string
	}{
		{name: "no directory holds anything: nothing to write", parts: []DirPart{{Template: "a.yaml"}, {Template: "b.yaml", Files: map[string][]byte{}}}, files: map[string]string{}},
		{
			name: "merged files; unknown keys and other files carried; an identical other file once",
			parts: []DirPart{
				{Template: "a.yaml", Files: map[string][]byte{FunctionsFile: fa, RoutingFile: ra, "extra.yml": []byte("tables: []\n")}},
				{Template: "b.yaml", Files: map[string][]byte{FunctionsFile: fb, "extra.yml": []byte("tables: []\n")}},
			},
			files: map[string]string{
				FunctionsFile: "defaults: {}\nfunctions:\n  a:\n    image: esb-a:latest\n    timeout: 3\n  b:\n    image: reg:5010/esb-b:latest\n    custom: kept\n",
				RoutingFile:   "routes:\n  - path: /a\n    method: GET\n    function: a\n", // as the gateway compares it
				"extra.yml":   "tables: []\n",
			},
		},
		{
			name: "another file that differs",
			parts: []DirPart{
				{Template: "a.yaml", Files: map[string][]byte{"extra.yml": []byte("tables: []\n")}},
				{Template: "b.yaml", Files: map[string][]byte{"extra.yml": []byte("tables: [x]\n")}},
			},
			errs: []string{"extra.yml differs between the runtime configs of a.yaml and b.yaml"},
		},
		{
			name:  "a functions.yml that does not read",
			parts: []DirPart{{Template: "a.yaml", Files: map[string][]byte{FunctionsFile: []byte("functions: [1, 2]\n")}}},
			errs:  []string{"read a.yaml (functions.yml)"},
		},
		{
			name:  "a route without its function",
			parts: []DirPart{{Template: "a.yaml", Files: map[string][]byte{RoutingFile: []byte("routes:\n  - {path: /x, method: GET}\n")}}},
			errs:  []string{"read a.yaml (routing.yml): route 1 lacks its path, method or function"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			files, _, err := MergeDirs(tc.parts)
			if tc.errs != nil {
				is.True(err != nil) // refused
				for _, e := range tc.errs {
					if !strings.Contains(err.Error(), e) {
						t.Errorf("error %q lacks %q", err, e)
					}
				}
				return
			}
			is.NoErr(err)
			got := map[string]string{}
			for k, v := range files {
				got[k] = string(v)
			}
			is.Equal(got, tc.files)
		})
	}
}

// Normalize leaves the caller's routes in their order and drops exact duplicates.
func TestNormalizeKeepsCallersSlice(t *testing.T) {
	is := is.New(t)
	routes := []Route{{Path: "/b", Method: "GET", Function: "f"}, {Path: "/a", Method: "GET", Function: "f"}, {Path: "/b", Method: "GET", Function: "f"}}
	c := Config{Routing: Routing{Routes: routes}}
	c.Normalize()
	is.Equal(routes[0].Path, "/b")
	is.Equal(len(c.Routing.Routes), 2)
	is.Equal(c.Routing.Routes[0].Path, "/a")
}
