package sam

import (
	"fmt"
)

// buildMetadata reads Metadata.BuildMethod, Metadata.BuildProperties and (layers)
// Metadata.BuildArchitecture of a resource: how `sam build` builds it. BuildProperties keep
// their YAML types (bool, string, number, list) with intrinsic functions resolved.
func (p *parser) buildMetadata(id string, res map[string]any) (method string, props map[string]any, arch string, err error) {
	meta, _ := res["Metadata"].(map[string]any)
	if meta == nil {
		return "", nil, "", nil
	}
	fail := func(prop string, err error) (string, map[string]any, string, error) {
		return "", nil, "", &ResourceError{Resource: id, Property: "Metadata." + prop, Reason: err.Error()}
	}
	if method, _, err = p.r.optStr(meta["BuildMethod"]); err != nil {
		return fail("BuildMethod", err)
	}
	if arch, _, err = p.r.optStr(meta["BuildArchitecture"]); err != nil {
		return fail("BuildArchitecture", err)
	}
	if v := meta["BuildProperties"]; v != nil {
		x, err := p.r.eval(v)
		if err != nil {
			return fail("BuildProperties", err)
		}
		if x != noValue {
			m, ok := x.(map[string]any)
			if !ok {
				return fail("BuildProperties", fmt.Errorf("BuildProperties must be a mapping, not %s", describe(x)))
			}
			props = m
		}
	}
	return method, props, arch, nil
}
