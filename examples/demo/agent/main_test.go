package main

import (
	"testing"

	"github.com/matryer/is"
)

func TestWorkerEnv(t *testing.T) {
	lookup := func(k string) (string, bool) {
		v, ok := map[string]string{"LOGS_URL": "http://logs:9428", "EMPTY": ""}[k]
		return v, ok
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"placeholder resolved", map[string]string{"LOG": "${LOGS_URL}/insert"}, []string{"LOG=http://logs:9428/insert"}},
		{"unset is empty", map[string]string{"X": "a${NOPE}b"}, []string{"X=ab"}},
		{"bare $VAR kept", map[string]string{"X": "$LOGS_URL"}, []string{"X=$LOGS_URL"}},
		{"two in one", map[string]string{"X": "${LOGS_URL}|${EMPTY}|"}, []string{"X=http://logs:9428||"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			got := workerEnv(InvokeRequest{Function: "f", Timeout: 5, MemorySize: 128, Environment: tc.env}, lookup)
			want := append(tc.want, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128", "AWS_LAMBDA_FUNCTION_NAME=f",
				"AWS_LAMBDA_FUNCTION_TIMEOUT=5", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST")
			is.Equal(len(got), len(want))
			for _, w := range want {
				found := false
				for _, g := range got {
					found = found || g == w
				}
				is.True(found) // every expected variable is there
			}
		})
	}
}
