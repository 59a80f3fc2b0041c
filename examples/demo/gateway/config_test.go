package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/matryer/is"
)

func TestMatch(t *testing.T) {
	cfg := Config{Routes: []Route{
		{Path: "/hello/{name}", Method: "GET", Function: "hello"},
		{Path: "/hello/admin", Method: "GET", Function: "admin"},
		{Path: "/greet", Method: "post", Function: "greet"},
		{Path: "/files/{path+}", Method: "ANY", Function: "files"},
	}}
	for _, tc := range []struct {
		method, path, function string
		params                 map[string]string
	}{
		{"GET", "/hello/ann", "hello", map[string]string{"name": "ann"}},
		{"GET", "/hello/ann/", "hello", map[string]string{"name": "ann"}},
		{"GET", "/hello/admin", "admin", map[string]string{}}, // literal beats parameter
		{"POST", "/greet", "greet", map[string]string{}},      // method case-insensitive
		{"GET", "/greet", "", nil},                            // wrong method
		{"GET", "/hello", "", nil},                            // too short
		{"GET", "/hello/a/b", "", nil},                        // too long
		{"DELETE", "/files/a/b/c.txt", "files", map[string]string{"path": "a/b/c.txt"}},
		{"GET", "/files", "", nil}, // a greedy parameter needs one segment
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			is := is.New(t)
			r, params, ok := cfg.Match(tc.method, tc.path)
			is.Equal(ok, tc.function != "")
			if ok {
				is.Equal(r.Function, tc.function)
				is.Equal(params, tc.params)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	for _, tc := range []struct {
		name, functions, routing string
		wantErr                  bool
		wantEnv                  map[string]string
	}{
		{name: "no files: empty", wantEnv: nil},
		{
			name:      "defaults merged, function wins",
			functions: "defaults:\n  environment: {A: a, B: b}\nfunctions:\n  f: {image: i, environment: {B: f}}\n",
			routing:   "routes:\n  - {path: \"/f\", method: GET, function: f}\n",
			wantEnv:   map[string]string{"A": "a", "B": "f"},
		},
		{
			name:      "route to an unknown function",
			functions: "functions:\n  f: {image: i}\n",
			routing:   "routes:\n  - {path: \"/g\", method: GET, function: g}\n",
			wantErr:   true,
		},
		{name: "not YAML", functions: "functions: [", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			dir := t.TempDir()
			for name, text := range map[string]string{"functions.yml": tc.functions, "routing.yml": tc.routing} {
				if text != "" {
					is.NoErr(os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644))
				}
			}
			cfg, err := LoadConfig(dir)
			is.Equal(err != nil, tc.wantErr)
			if tc.wantEnv != nil {
				is.Equal(cfg.Functions["f"].Environment, tc.wantEnv)
			}
		})
	}
}
