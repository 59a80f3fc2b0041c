package bundleimage

import (
	"testing"

	"github.com/matryer/is"
)

func layers(specs ...string) []Layer {
	var out []Layer
	for _, s := range specs {
		out = append(out, Layer{DiffID: s, Size: 10})
	}
	return out
}

func groups(specs ...[]string) []Group {
	var out []Group
	for _, s := range specs {
		out = append(out, Group{Layers: layers(s...), DiffID: "chain-" + s[0]})
	}
	return out
}

func names(gs []Group) [][]string {
	var out [][]string
	for _, g := range gs {
		var n []string
		for _, l := range g.Layers {
			n = append(n, l.DiffID)
		}
		out = append(out, n)
	}
	return out
}

func TestPlanChain(t *testing.T) {
	big := Layer{DiffID: "big", Size: 1000}
	tests := []struct {
		name      string
		prev      []Group
		live      []Layer
		lim       Limits
		want      [][]string
		wantReuse int
	}{
		{"first build: one layer each", nil, layers("a", "b", "c"), Limits{100, 0.5},
			[][]string{{"a"}, {"b"}, {"c"}}, 0},
		{"nothing changed: everything reused", groups([]string{"a"}, []string{"b"}), layers("a", "b"), Limits{100, 0.5},
			[][]string{{"a"}, {"b"}}, 2},
		{"a new layer is appended", groups([]string{"a"}, []string{"b"}), layers("a", "b", "c"), Limits{100, 0.5},
			[][]string{{"a"}, {"b"}, {"c"}}, 2},
		{"a replaced layer stays as garbage while it is small", groups([]string{"a"}, []string{"b"}, []string{"c"}), layers("a", "x", "c"), Limits{100, 0.5},
			[][]string{{"a"}, {"b"}, {"c"}, {"x"}}, 3},
		{"unused groups at the end are dropped for free", groups([]string{"a"}, []string{"b"}, []string{"c"}), layers("a", "b"), Limits{100, 0.5},
			[][]string{{"a"}, {"b"}}, 2},
		{"too much garbage: the clean prefix stays, the rest is regrouped",
			[]Group{{Layers: layers("a"), DiffID: "1"}, {Layers: []Layer{big}, DiffID: "2"}, {Layers: layers("c"), DiffID: "3"}},
			layers("a", "c", "d"), Limits{100, 0.5},
			[][]string{{"a"}, {"c"}, {"d"}}, 1},
		{"near the layer limit new layers share one group", groups([]string{"a"}, []string{"b"}, []string{"c"}), layers("a", "b", "c", "d", "e", "f"), Limits{4, 0.5},
			[][]string{{"a"}, {"b"}, {"c"}, {"d", "e", "f"}}, 3},
		{"at the layer limit the chain is compacted to half", groups([]string{"a"}, []string{"b"}, []string{"c"}, []string{"d"}), layers("a", "b", "c", "d", "e"), Limits{4, 0.5},
			[][]string{{"a"}, {"b", "c", "d", "e"}}, 1},
		{"a first build above the limit is grouped", nil, layers("a", "b", "c", "d", "e"), Limits{4, 0.5},
			[][]string{{"a", "b", "c"}, {"d", "e"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			plan := PlanChain(tt.prev, tt.live, tt.lim)
			is.Equal(names(plan.Groups), tt.want)
			is.Equal(plan.Reuse, tt.wantReuse)
			for i := 0; i < plan.Reuse; i++ {
				is.Equal(plan.Groups[i].DiffID, tt.prev[i].DiffID) // reused groups keep their identity
			}
			for _, g := range plan.Groups[plan.Reuse:] {
				is.Equal(g.DiffID, "") // new groups get theirs when written
			}
			is.True(plan.Reason != "")
		})
	}
}

func TestDefaultLimits(t *testing.T) {
	is := is.New(t)
	is.Equal(DefaultLimits(1).MaxGroups, 100)
	is.Equal(DefaultLimits(30).MaxGroups, 85) // the engine stops at 125 layers
	is.Equal(DefaultLimits(200).MaxGroups, 2)
}
