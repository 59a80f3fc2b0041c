package embedded

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/dindbundler/dindbundler/producer/sam"
	"github.com/matryer/is"
)

// The real-application corpus: public SAM applications (templates and the file lists of their code
// directories, see ../sam/testdata/realapps/README.md), planned without Docker.

var updateRealApps = flag.Bool("update-realapps", false, "rewrite ../sam/testdata/realapps/expected.json from the planner (review the diff against SAM's rules before committing)")

const realAppsDir = "../sam/testdata/realapps"

type realApp struct {
	App      string `json:"app"`
	Template string `json:"template"`
}

// plannedFunction is what `sam build` decides for one function, as the planner renders it.
type plannedFunction struct {
	Image        string   `json:"image"`
	Runtime      string   `json:"runtime,omitempty"`
	Base         string   `json:"base,omitempty"`
	Handler      string   `json:"handler,omitempty"`
	Code         string   `json:"code,omitempty"` // relative to the app directory
	Architecture string   `json:"architecture"`
	Layers       []string `json:"layers,omitempty"`
	Dockerfile   string   `json:"dockerfile,omitempty"` // Image functions: context/Dockerfile
}

type appPlan struct {
	Functions map[string]plannedFunction `json:"functions,omitempty"` // by function name
	Warnings  int                        `json:"warnings,omitempty"`
	Error     string                     `json:"error,omitempty"`
}

func loadRealApps(t *testing.T) []realApp {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(realAppsDir, "apps.json"))
	if err != nil {
		t.Fatalf("read the real-application index: %v", err)
	}
	var apps []realApp
	if err := json.Unmarshal(data, &apps); err != nil {
		t.Fatalf("read the real-application index: %v", err)
	}
	return apps
}

// planRealApp parses and plans one application; a panic becomes an error that names it.
func planRealApp(app realApp) (out appPlan, panicked any) {
	defer func() { panicked = recover() }()
	appDir, _ := filepath.Abs(filepath.Join(realAppsDir, app.App))
	tplPath := filepath.Join(appDir, app.Template)
	req := Request{Template: tplPath, Env: "dev", ProjectRoot: appDir}
	// layers.map is the LAYER_MAP a user would write for an application that uses published layers.
	if _, err := os.Stat(filepath.Join(appDir, "layers.map")); err == nil {
		m, _, err := sam.LoadLayerMap("layers.map", appDir)
		if err != nil {
			return appPlan{Error: err.Error()}, nil
		}
		req.LayerMap = m
	}
	tpl, err := sam.ParseFile(tplPath, req.samOptions())
	if err != nil {
		return appPlan{Error: strings.ReplaceAll(err.Error(), appDir+"/", "")}, nil
	}
	plan, err := Plan(tpl, nil, req)
	if err != nil {
		return appPlan{Error: strings.ReplaceAll(err.Error(), appDir+"/", "")}, nil
	}
	rel := func(p string) string {
		r, err := filepath.Rel(appDir, p)
		if err != nil {
			return p
		}
		return filepath.ToSlash(r)
	}
	images := map[string]ImageBuild{}
	for _, b := range plan.Images {
		images[b.For] = b
	}
	out.Functions = map[string]plannedFunction{}
	for _, fn := range tpl.Functions {
		b := images[fn.Name]
		pf := plannedFunction{Image: b.Name, Architecture: fn.Architecture}
		if fn.PackageType == sam.PackageImage {
			if fn.ImageURI != "" {
				pf.Dockerfile = "FROM " + fn.ImageURI
			} else {
				pf.Dockerfile = rel(fn.DockerContext) + "/" + b.Dockerfile
			}
		} else {
			pf.Runtime, pf.Handler = fn.Runtime, fn.Handler
			pf.Base, _ = strings.CutPrefix(strings.SplitN(b.DockerfileText, "\n", 3)[1], "FROM ")
			switch fn.CodeKind {
			case sam.CodeInline:
				pf.Code = "(inline)"
			default:
				pf.Code = rel(fn.CodeURI)
			}
			for _, l := range fn.Layers {
				pf.Layers = append(pf.Layers, rel(l.ContentURI))
			}
		}
		out.Functions[fn.Name] = pf
	}
	out.Warnings = len(plan.Warnings)
	return out, nil
}

func TestRealApps(t *testing.T) {
	apps := loadRealApps(t)
	got := map[string]appPlan{}
	planned, functions := 0, 0
	var failures []string
	for _, app := range apps {
		p, panicked := planRealApp(app)
		if panicked != nil {
			t.Errorf("%s: the planner panicked: %v", app.App, panicked)
			continue
		}
		got[app.App] = p
		if p.Error != "" {
			failures = append(failures, fmt.Sprintf("%s: %s", app.App, p.Error))
			continue
		}
		planned++
		functions += len(p.Functions)
	}
	rate := 100 * float64(planned) / float64(len(apps))
	t.Logf("real applications: %d, planned fully: %d (%.1f %%), functions: %d", len(apps), planned, rate, functions)
	fmt.Printf("real-application corpus: %d of %d planned fully (%.1f %%), %d functions, 0 crashes\n", planned, len(apps), rate, functions)
	for _, f := range failures {
		t.Logf("not planned: %s", f)
	}

	golden := filepath.Join(realAppsDir, "expected.json")
	if *updateRealApps {
		data, err := json.MarshalIndent(got, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s: review it against SAM's rules", golden)
	}
	data, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read %s: %v (run with -update-realapps to create it, then review it)", golden, err)
	}
	var want map[string]appPlan
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		g, ok := got[n]
		if !ok {
			t.Errorf("%s: in expected.json but not in apps.json", n)
			continue
		}
		wj, _ := json.Marshal(want[n])
		gj, _ := json.Marshal(g)
		if string(wj) != string(gj) {
			t.Errorf("%s: plan changed\n got: %s\nwant: %s", n, gj, wj)
		}
	}
	is := is.New(t)
	is.Equal(len(want), len(apps)) // every application has its expected plan
	is.True(rate >= 97)            // the target of issue 11
}
