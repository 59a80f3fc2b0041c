package engine

import (
	"strings"
	"testing"

	"github.com/matryer/is"
)

func TestFamiliarRef(t *testing.T) {
	for in, want := range map[string]string{
		"app":                                   "app:latest",
		"app:1":                                 "app:1",
		"redis":                                 "redis:latest",
		"docker.io/library/app:1":               "app:1",
		"library/app":                           "app:latest",
		"docker.io/me/app":                      "me/app:latest",
		"localhost:5000/app":                    "localhost:5000/app:latest",
		"localhost:5000/app:2":                  "localhost:5000/app:2",
		"127.0.0.1:5000/example/logs:1.0":       "127.0.0.1:5000/example/logs:1.0",
		"app@sha256:" + strings.Repeat("a", 64): "app@sha256:" + strings.Repeat("a", 64),
	} {
		got, err := FamiliarRef(in)
		is.New(t).NoErr(err)
		is.New(t).Equal(got, want)
	}
	for _, bad := range []string{"", "Upper", "a b", "app:"} {
		_, err := FamiliarRef(bad)
		is.New(t).True(err != nil) // not a reference
	}
}
