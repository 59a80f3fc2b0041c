package sam

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
)

// Resource types the stack's provisioner creates before the stack starts.
const (
	typeDynamoTable = "AWS::DynamoDB::Table"
	typeSimpleTable = "AWS::Serverless::SimpleTable"
	typeBucket      = "AWS::S3::Bucket"
)

// Resource is a table or bucket of the template: its CloudFormation properties with intrinsics
// resolved, the name defaulted to the logical ID (no stack generates one offline).
type Resource struct {
	LogicalID  string
	Properties map[string]any
}

// isProvisioned reports whether typ is a resource the provisioner creates.
func isProvisioned(typ string) bool {
	return typ == typeDynamoTable || typ == typeSimpleTable || typ == typeBucket
}

// provisioned reads the tables and buckets among resources (ids sorted). A resource whose
// properties cannot be resolved offline is left out with a warning rather than failing the
// template: the functions still build, and the stack's provisioner is told only what is known.
func (p *parser) provisioned(t *Template, resources map[string]any, ids []string) {
	for _, id := range ids {
		res, _ := resources[id].(map[string]any)
		typ, _ := res["Type"].(string)
		if !isProvisioned(typ) {
			continue
		}
		on, err := p.resourceCondition(id, res)
		if err == nil && !on {
			continue
		}
		props := map[string]any{}
		if err == nil {
			props, err = p.provisionedProperties(typ, res["Properties"])
		}
		if err != nil {
			p.warnings = append(p.warnings, fmt.Sprintf("resource %s (%s) is left out of resources.yml: %v", id, typ, err))
			continue
		}
		switch typ {
		case typeSimpleTable:
			t.Tables = append(t.Tables, Resource{LogicalID: id, Properties: simpleTable(id, props)})
		case typeDynamoTable:
			props = maps.Clone(props)
			if _, ok := props["TableName"]; !ok {
				props["TableName"] = id
			}
			t.Tables = append(t.Tables, Resource{LogicalID: id, Properties: props})
		case typeBucket:
			props = maps.Clone(props)
			if _, ok := props["BucketName"]; !ok {
				props["BucketName"] = strings.ToLower(id) // bucket names are lower case
			}
			t.Buckets = append(t.Buckets, Resource{LogicalID: id, Properties: props})
		}
	}
}

// provisionedKeys are the properties the stack's provisioner reads, by type: only they are
// resolved and kept, so a property that needs a deployed stack (a stream's ARN, a KMS key)
// cannot keep a table from being listed.
var provisionedKeys = map[string][]string{
	typeDynamoTable: {"TableName", "AttributeDefinitions", "KeySchema", "BillingMode", "ProvisionedThroughput", "GlobalSecondaryIndexes", "LocalSecondaryIndexes"},
	typeSimpleTable: {"TableName", "PrimaryKey", "ProvisionedThroughput"},
	typeBucket:      {"BucketName", "LifecycleConfiguration"},
}

// provisionedProperties resolves the provisioner's properties of one resource.
func (p *parser) provisionedProperties(typ string, raw any) (map[string]any, error) {
	props := map[string]any{}
	if raw == nil {
		return props, nil
	}
	m, ok := raw.(map[string]any)
	if !ok || isIntrinsic(m) {
		return nil, errors.New("Properties must be a mapping")
	}
	for _, k := range provisionedKeys[typ] {
		v, ok := m[k]
		if !ok {
			continue
		}
		resolved, err := p.r.eval(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		props[k] = numbers(resolved)
	}
	return props, nil
}

// numbers turns the parser's numbers (kept as their text, number) back into numbers: the
// provisioner's API takes ExpirationInDays or ReadCapacityUnits as integers, not text.
func numbers(v any) any {
	switch v := v.(type) {
	case number:
		if n, err := strconv.Atoi(string(v)); err == nil {
			return n
		}
		if f, err := strconv.ParseFloat(string(v), 64); err == nil {
			return f
		}
		return string(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = numbers(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = numbers(e)
		}
		return out
	}
	return v
}

// simpleTable is an AWS::Serverless::SimpleTable as the DynamoDB table SAM makes of it: a hash
// key from PrimaryKey (default id, String), PAY_PER_REQUEST unless ProvisionedThroughput is set.
func simpleTable(id string, props map[string]any) map[string]any {
	name, typ := "id", "String"
	if pk, ok := props["PrimaryKey"].(map[string]any); ok {
		if n, ok := pk["Name"].(string); ok && n != "" {
			name = n
		}
		if v, ok := pk["Type"].(string); ok && v != "" {
			typ = v
		}
	}
	attrType := map[string]string{"String": "S", "Number": "N", "Binary": "B"}[typ]
	if attrType == "" {
		attrType = "S"
	}
	out := map[string]any{
		"TableName":            id,
		"AttributeDefinitions": []any{map[string]any{"AttributeName": name, "AttributeType": attrType}},
		"KeySchema":            []any{map[string]any{"AttributeName": name, "KeyType": "HASH"}},
		"BillingMode":          "PAY_PER_REQUEST",
	}
	if n, ok := props["TableName"]; ok {
		out["TableName"] = n
	}
	if pt, ok := props["ProvisionedThroughput"]; ok {
		out["BillingMode"] = "PROVISIONED"
		out["ProvisionedThroughput"] = pt
	}
	return out
}
