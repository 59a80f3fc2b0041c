package embedded

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
	"github.com/dindbundler/dindbundler/internal/runtimeconfig"
	"github.com/dindbundler/dindbundler/producer/sam"
)

// Lambda's values for a function whose template sets none; the stack's gateway would otherwise
// apply its own (a longer timeout, no memory limit), so the function would not run as deployed.
const (
	lambdaTimeout    = 3   // seconds
	lambdaMemorySize = 128 // MB
)

// anyMethods are what an ANY route becomes: the gateway compares a request's method with the
// route's exactly, so it has no ANY of its own.
var anyMethods = []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}

// RuntimeConfig is the stack's runtime config for template t: every function with its image
// (images: function name → image reference, as the plan names them), timeout, memory size,
// environment (Globals merged, ${VAR} placeholders kept for the stack to resolve), scaling and
// schedules; every Api and HttpApi event as a route. It returns warnings for events the gateway
// cannot serve as written. Pure: it reads neither the disk nor the engine.
func RuntimeConfig(t *sam.Template, images map[string]string) (runtimeconfig.Config, []string) {
	c := runtimeconfig.Config{Functions: runtimeconfig.Functions{Defaults: map[string]any{}, Functions: map[string]runtimeconfig.Function{}}}
	var warnings []string
	if t == nil {
		return c, nil
	}
	for _, fn := range t.Functions {
		entry := runtimeconfig.Function{
			Image: images[fn.Name], Timeout: fn.Timeout, MemorySize: fn.MemorySize,
			Environment: copyMap(fn.Environment),
		}
		if entry.Timeout == 0 {
			entry.Timeout = lambdaTimeout
		}
		if entry.MemorySize == 0 {
			entry.MemorySize = lambdaMemorySize
		}
		if len(entry.Environment) == 0 {
			entry.Environment = nil
		}
		if fn.ReservedConcurrency != nil || fn.ProvisionedConcurrency != nil {
			entry.Scaling = &runtimeconfig.Scaling{MaxCapacity: fn.ReservedConcurrency, MinCapacity: fn.ProvisionedConcurrency}
		}
		for _, s := range fn.Schedules {
			entry.Events = append(entry.Events, runtimeconfig.Event{Schedule: &runtimeconfig.Schedule{Rate: s.Expression, Input: s.Input}})
		}
		c.Functions.Functions[fn.Name] = entry
		for _, r := range fn.Routes {
			routes, warning := routesOf(fn.Name, r)
			if warning != "" {
				warnings = append(warnings, warning)
			}
			c.Routing.Routes = append(c.Routing.Routes, routes...)
		}
	}
	c.Normalize()
	return c, warnings
}

// routesOf is the gateway's routes for one Api or HttpApi event of function fn.
func routesOf(fn string, r sam.Route) ([]runtimeconfig.Route, string) {
	if r.Path == "" {
		return nil, fmt.Sprintf("function %s: the %s event %s has no Path (the API's default route, which takes every path): the gateway routes named paths only, so it gets no route", fn, r.Type, r.Event)
	}
	method := strings.ToUpper(r.Method)
	methods := []string{method}
	if method == "" || method == "ANY" || method == "X-AMAZON-APIGATEWAY-ANY-METHOD" {
		methods = anyMethods
	}
	routes := make([]runtimeconfig.Route, 0, len(methods))
	for _, m := range methods {
		routes = append(routes, runtimeconfig.Route{Path: r.Path, Method: m, Function: fn})
	}
	if strings.Contains(r.Path, "+}") {
		return routes, fmt.Sprintf("function %s: the %s event %s has the greedy path %s: the gateway matches {name} as one path segment and has no greedy parameter", fn, r.Type, r.Event, r.Path)
	}
	return routes, ""
}

// functionImages maps each function of the plan to its image.
func functionImages(plan BuildPlan) map[string]string {
	images := map[string]string{}
	for _, b := range plan.Images {
		if b.Source == SourceSAM {
			images[b.For] = b.Name
		}
	}
	return images
}

// writeRuntimeConfig writes c's functions.yml and routing.yml into dir, each atomically, and
// resources.yml when r has any resource (else removes one an earlier run left).
func writeRuntimeConfig(dir string, c runtimeconfig.Config, r runtimeconfig.Resources) error {
	functions, routing, err := runtimeconfig.Encode(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create the runtime config directory %s: %w", dir, err)
	}
	files := map[string][]byte{runtimeconfig.FunctionsFile: functions, runtimeconfig.RoutingFile: routing}
	resources := filepath.Join(dir, runtimeconfig.ResourcesFile)
	if r.Empty() {
		if err := os.Remove(resources); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove the old %s: %w", resources, err)
		}
	} else if files[runtimeconfig.ResourcesFile], err = runtimeconfig.EncodeResources(r); err != nil {
		return err
	}
	for name, data := range files {
		if err := atomicfile.Write(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("write the runtime config: %w", err)
		}
	}
	return nil
}

// ResourcesOf lists what the stack's provisioner creates for t: its DynamoDB tables and S3
// buckets (CloudFormation properties, names defaulted to logical IDs), and the layers the
// template defines by name and compatible runtimes. Pure.
func ResourcesOf(t *sam.Template) runtimeconfig.Resources {
	var r runtimeconfig.Resources
	if t == nil {
		return r
	}
	for _, res := range t.Tables {
		r.Resources.DynamoDB = append(r.Resources.DynamoDB, res.Properties)
	}
	for _, res := range t.Buckets {
		r.Resources.S3 = append(r.Resources.S3, res.Properties)
	}
	for _, id := range slices.Sorted(maps.Keys(t.Layers)) {
		l := t.Layers[id]
		if l.LogicalID == "" {
			continue // a published layer: nothing of this template
		}
		entry := map[string]any{"LayerName": l.Name}
		if len(l.CompatibleRuntimes) > 0 {
			entry["CompatibleRuntimes"] = slices.Clone(l.CompatibleRuntimes)
		}
		r.Resources.Layers = append(r.Resources.Layers, entry)
	}
	return r
}
