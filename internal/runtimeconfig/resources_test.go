package runtimeconfig

import (
	"strings"
	"testing"

	"github.com/matryer/is"
)

// TestMergeResources: tables, buckets and layers are a union by name, sorted; a name two
// templates define differently is an error naming both; resources.yml goes through MergeDirs.
func TestMergeResources(t *testing.T) {
	table := func(name, key string) map[string]any {
		return map[string]any{"TableName": name, "KeySchema": []any{map[string]any{"AttributeName": key, "KeyType": "HASH"}}}
	}
	for _, tc := range []struct {
		name  string
		parts []ResourcePart
		want  string
		errs  []string
	}{
		{"union, identical kept once", []ResourcePart{
			{"a.yaml", Resources{ResourceLists{DynamoDB: []map[string]any{table("Orders", "id")}, S3: []map[string]any{{"BucketName": "b1"}}}}},
			{"b.yaml", Resources{ResourceLists{DynamoDB: []map[string]any{table("Users", "id"), table("Orders", "id")}, Layers: []map[string]any{{"LayerName": "common"}}}}},
		}, `resources:
  dynamodb:
    - KeySchema:
        - AttributeName: id
          KeyType: HASH
      TableName: Orders
    - KeySchema:
        - AttributeName: id
          KeyType: HASH
      TableName: Users
  s3:
    - BucketName: b1
  layers:
    - LayerName: common
`, nil},
		{"one table two ways", []ResourcePart{
			{"a.yaml", Resources{ResourceLists{DynamoDB: []map[string]any{table("Orders", "id")}}}},
			{"b.yaml", Resources{ResourceLists{DynamoDB: []map[string]any{table("Orders", "pk")}, S3: []map[string]any{{"BucketName": "x", "A": 1}}}}},
			{"c.yaml", Resources{ResourceLists{S3: []map[string]any{{"BucketName": "x", "A": 2}}}}},
		}, "", []string{"resources.yml: dynamodb TableName Orders is defined differently by a.yaml and b.yaml", "resources.yml: s3 BucketName x is defined differently by b.yaml and c.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			got, err := MergeResources(tc.parts)
			if tc.errs != nil {
				is.True(err != nil)
				for _, e := range tc.errs {
					is.True(strings.Contains(err.Error(), e))
				}
				return
			}
			is.NoErr(err)
			data, err := EncodeResources(got)
			is.NoErr(err)
			is.Equal(string(data), tc.want)
		})
	}
	is := is.New(t)
	files, _, err := MergeDirs([]DirPart{
		{Template: "a.yaml", Files: map[string][]byte{FunctionsFile: []byte("functions: {}\n"), ResourcesFile: []byte("resources:\n  s3:\n    - BucketName: a\n")}},
		{Template: "b.yaml", Files: map[string][]byte{ResourcesFile: []byte("resources:\n  s3:\n    - BucketName: b\n")}},
	})
	is.NoErr(err)
	is.Equal(string(files[ResourcesFile]), "resources:\n  s3:\n    - BucketName: a\n    - BucketName: b\n")
}
