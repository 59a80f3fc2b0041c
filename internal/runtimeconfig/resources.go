package runtimeconfig

import (
	"errors"
	"fmt"
	"sort"

	"gopkg.in/yaml.v3"
)

// ResourcesFile is the stack's resources.yml: what its provisioner creates before the stack
// starts (DynamoDB tables, S3 buckets), in the provisioner's shape — each entry the
// CloudFormation properties, which the provisioner passes on as they are. Layers are listed by
// name for the record; the provisioner reads only the keys it knows.
const ResourcesFile = "resources.yml"

// Resources is resources.yml.
type Resources struct {
	Resources ResourceLists `yaml:"resources"`
}

// ResourceLists are the resources by kind; Extra keeps kinds this package does not know.
type ResourceLists struct {
	DynamoDB []map[string]any `yaml:"dynamodb,omitempty"`
	S3       []map[string]any `yaml:"s3,omitempty"`
	Layers   []map[string]any `yaml:"layers,omitempty"`
	Extra    map[string]any   `yaml:",inline"`
}

// resourceKinds names each list and the key that names its entries.
func (l *ResourceLists) kinds() []struct {
	name, key string
	list      *[]map[string]any
} {
	return []struct {
		name, key string
		list      *[]map[string]any
	}{{"dynamodb", "TableName", &l.DynamoDB}, {"s3", "BucketName", &l.S3}, {"layers", "LayerName", &l.Layers}}
}

// Empty reports whether there is nothing to provision or record.
func (r Resources) Empty() bool {
	l := r.Resources
	return len(l.DynamoDB) == 0 && len(l.S3) == 0 && len(l.Layers) == 0 && len(l.Extra) == 0
}

// EncodeResources renders resources.yml, each list sorted by name.
func EncodeResources(r Resources) ([]byte, error) {
	for _, k := range r.Resources.kinds() {
		list := *k.list
		sort.SliceStable(list, func(a, b int) bool { return fmt.Sprint(list[a][k.key]) < fmt.Sprint(list[b][k.key]) })
	}
	data, err := encode(r)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", ResourcesFile, err)
	}
	return data, nil
}

// DecodeResources reads resources.yml; name is the file, for errors.
func DecodeResources(data []byte, name string) (Resources, error) {
	var r Resources
	if err := yaml.Unmarshal(data, &r); err != nil {
		return Resources{}, fmt.Errorf("read %s: %w: the resources must be `resources:` with lists `dynamodb:`, `s3:`", name, err)
	}
	return r, nil
}

// ResourcePart is one template's resources; Template names it in errors.
type ResourcePart struct {
	Template  string
	Resources Resources
}

// MergeResources is the union of the parts' resources: one table, bucket or layer name defined
// identically is kept once, differently is an error naming both templates — every conflict at
// once. Kinds this package does not know must be equal where several parts have them.
func MergeResources(parts []ResourcePart) (Resources, error) {
	var out Resources
	from := map[string]string{}
	at := map[string]map[string]any{}
	var conflicts []error
	for _, p := range parts {
		in := p.Resources.Resources
		outKinds, inKinds := out.Resources.kinds(), in.kinds()
		for i, k := range inKinds {
			for _, entry := range *k.list {
				name, _ := entry[k.key].(string)
				id := k.name + "/" + name
				prev, seen := at[id]
				switch {
				case name == "" || !seen:
					*outKinds[i].list = append(*outKinds[i].list, entry)
					if name != "" {
						at[id], from[id] = entry, p.Template
					}
				case !sameYAML(prev, entry):
					conflicts = append(conflicts, fmt.Errorf("%s: %s %s %s is defined differently by %s and %s: rename one of them, or make them equal", ResourcesFile, k.name, k.key, name, from[id], p.Template))
				}
			}
		}
		for key, v := range in.Extra {
			if out.Resources.Extra == nil {
				out.Resources.Extra = map[string]any{}
			}
			prev, seen := out.Resources.Extra[key]
			switch {
			case !seen:
				out.Resources.Extra[key], from["extra/"+key] = v, p.Template
			case !sameYAML(prev, v):
				conflicts = append(conflicts, fmt.Errorf("%s: resources %s differs between %s and %s: make them equal", ResourcesFile, key, from["extra/"+key], p.Template))
			}
		}
	}
	if len(conflicts) > 0 {
		return Resources{}, fmt.Errorf("merge the templates' resources:\n%w", errors.Join(conflicts...))
	}
	return out, nil
}
