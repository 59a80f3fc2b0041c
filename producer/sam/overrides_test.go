package sam

import (
	"strings"
	"testing"

	"github.com/matryer/is"
)

func TestParseOverrides(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]string
	}{
		{"", map[string]string{}},
		{"  ", map[string]string{}},
		{"Stage=dev", map[string]string{"Stage": "dev"}},
		{"Stage=dev,Memory=512", map[string]string{"Stage": "dev", "Memory": "512"}},
		{"Stage=dev Memory=512", map[string]string{"Stage": "dev", "Memory": "512"}},
		{"Stage=dev, Memory=512\n", map[string]string{"Stage": "dev", "Memory": "512"}},
		{"Token=a=b==", map[string]string{"Token": "a=b=="}},
		{"Empty=", map[string]string{"Empty": ""}},
		{"ParameterKey=Stage,ParameterValue=prod", map[string]string{"Stage": "prod"}},
		{"ParameterKey=Stage,ParameterValue=prod ParameterKey=Url,ParameterValue=http://x?a=1",
			map[string]string{"Stage": "prod", "Url": "http://x?a=1"}},
		{"ParameterKey=A,ParameterValue=1,B=2", map[string]string{"A": "1", "B": "2"}},
		{`Subnets="a,b" Name='x y'`, map[string]string{"Subnets": "a,b", "Name": "x y"}},
		{`Quote="say \"hi\"\\"`, map[string]string{"Quote": `say "hi"\`}},
		{`"Stage"=dev`, map[string]string{"Stage": "dev"}},
		{"ParameterKey=S,ParameterValue=", map[string]string{"S": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			is := is.New(t)
			got, err := ParseOverrides(tt.in)
			is.NoErr(err)
			is.Equal(got, tt.want)
		})
	}
}

func TestParseOverridesErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Stage", `"Stage" has no '='`},
		{"Stage=dev,garbage", `"garbage" has no '='`},
		{"=dev", "only letters and digits"},
		{"My-Param=1", "only letters and digits"},
		{"A=1,A=2", "A is set twice"},
		{"ParameterKey=Stage", "not followed by ParameterValue"},
		{"ParameterKey=Stage,Other=1", "not followed by ParameterValue"},
		{"ParameterValue=1", "no ParameterKey"},
		{`A="open`, "inside a quoted value"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			is := is.New(t)
			got, err := ParseOverrides(tt.in)
			is.True(got == nil)
			is.True(err != nil)
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
			is.True(strings.Contains(err.Error(), "PARAMETER_OVERRIDES") || strings.Contains(err.Error(), "keep one")) // says how to fix it
		})
	}
}
