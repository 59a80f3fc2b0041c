package sam

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// runtimeSettings reads what the stack runs a function with, besides its image: Timeout,
// MemorySize, the concurrency settings and the Api, HttpApi, Schedule and ScheduleV2 events
// (Globals already merged into props). None of it changes the image, so a value that cannot be
// used is a warning naming the resource and property, and is left out; it never stops the build.
func (p *parser) runtimeSettings(id string, props map[string]any, f *Function) {
	warn := func(prop string, err error) {
		p.warnings = append(p.warnings, fmt.Sprintf("resource %s property %s: %v; left out of the runtime config", id, prop, err))
	}
	for _, s := range []struct {
		prop string
		dst  *int
	}{{"Timeout", &f.Timeout}, {"MemorySize", &f.MemorySize}} {
		if n, ok, err := p.count(props[s.prop]); err != nil {
			warn(s.prop, err)
		} else if ok {
			*s.dst = n
		}
	}
	if n, ok, err := p.count(props["ReservedConcurrentExecutions"]); err != nil {
		warn("ReservedConcurrentExecutions", err)
	} else if ok {
		f.ReservedConcurrency = &n
	}
	if pc, err := p.plainMap(props["ProvisionedConcurrencyConfig"], "ProvisionedConcurrencyConfig"); err != nil {
		warn("ProvisionedConcurrencyConfig", err)
	} else if n, ok, err := p.count(pc["ProvisionedConcurrentExecutions"]); err != nil {
		warn("ProvisionedConcurrencyConfig.ProvisionedConcurrentExecutions", err)
	} else if ok {
		f.ProvisionedConcurrency = &n
	}
	events, err := p.plainMap(props["Events"], "Events")
	if err != nil {
		warn("Events", err)
		return
	}
	for _, name := range slices.Sorted(maps.Keys(events)) {
		prop := "Events." + name
		if err := p.event(name, events[name], f); err != nil {
			warn(prop, err)
		}
	}
}

// event reads one entry of Events; types the runtime config has nothing for are skipped.
func (p *parser) event(name string, v any, f *Function) error {
	ev, err := p.plainMap(v, "an event")
	if err != nil || ev == nil {
		return err
	}
	typ, _, err := p.r.optStr(ev["Type"])
	if err != nil {
		return fmt.Errorf("Type: %w", err)
	}
	props, err := p.plainMap(ev["Properties"], "Properties")
	if err != nil {
		return err
	}
	get := func(key string) (string, bool, error) {
		s, ok, err := p.r.optStr(props[key])
		if err != nil {
			return "", false, fmt.Errorf("%s: %w", key, err)
		}
		return s, ok, nil
	}
	switch typ {
	case "Api", "HttpApi":
		path, hasPath, err := get("Path")
		if err != nil {
			return err
		}
		method, hasMethod, err := get("Method")
		if err != nil {
			return err
		}
		if typ == "Api" && (!hasPath || !hasMethod) {
			return fmt.Errorf("an Api event needs Path and Method")
		}
		f.Routes = append(f.Routes, Route{Event: name, Type: typ, Path: path, Method: method})
	case "Schedule", "ScheduleV2":
		exprKey, enabledKey := "Schedule", "Enabled"
		if typ == "ScheduleV2" {
			exprKey, enabledKey = "ScheduleExpression", ""
		}
		expr, ok, err := get(exprKey)
		if err != nil {
			return err
		}
		if !ok || expr == "" {
			return fmt.Errorf("a %s event needs %s", typ, exprKey)
		}
		if enabledKey != "" {
			if on, ok, err := get(enabledKey); err != nil {
				return err
			} else if ok && strings.EqualFold(on, "false") {
				return nil // not scheduled in AWS either
			}
		}
		if state, _, err := get("State"); err != nil {
			return err
		} else if strings.EqualFold(state, "DISABLED") {
			return nil
		}
		input, _, err := get("Input")
		if err != nil {
			return err
		}
		f.Schedules = append(f.Schedules, Schedule{Event: name, Expression: expr, Input: input})
	}
	return nil
}

// count reads a non-negative whole number (a count, seconds, megabytes); ok is false when the
// property is absent.
func (p *parser) count(v any) (int, bool, error) {
	s, ok, err := p.r.optStr(v)
	if err != nil || !ok {
		return 0, false, err
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || n < 0 || n != math.Trunc(n) || n > math.MaxInt32 {
		return 0, false, fmt.Errorf("%q is not a whole number", s)
	}
	return int(n), true, nil
}
