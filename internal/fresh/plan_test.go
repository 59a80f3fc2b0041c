package fresh

import (
	"testing"

	"github.com/matryer/is"
)

func TestPlanSkippedAndRan(t *testing.T) {
	skip := Plan{Decision: Decision{Fresh: true, Reason: "m is up to date"}}
	work := Plan{Decision: Decision{Reason: "FORCE is set"}}
	tests := []struct {
		name  string
		plans []Plan
		ran   bool
	}{
		{"no decision: the stage always works", nil, true},
		{"every decision fresh", []Plan{skip, skip}, false},
		{"one decision not fresh", []Plan{skip, work}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { is.New(t).Equal(Ran(tt.plans), tt.ran) })
	}
	is := is.New(t)
	is.Equal(skip.Skipped(), "skipped, m is up to date")
	skip.Subject = "a/template.yaml"
	is.Equal(skip.Skipped(), "a/template.yaml: skipped, m is up to date") // as the deploy stage logs it
}
