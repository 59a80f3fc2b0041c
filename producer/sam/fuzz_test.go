package sam

import (
	"os"
	"path/filepath"
	"testing"
)

func FuzzParse(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "*.*"))
	if err != nil {
		f.Fatal(err)
	}
	seeds = append(seeds, filepath.Join("testdata", "app", "template.yaml"))
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: s3://b/k}\n",
		"Globals: {Function: {Layers: [!Ref L]}}\nResources:\n  F: {Type: AWS::Serverless::Function, Properties: {Layers: []}}\n  L: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: l}}\n",
		"Conditions: {A: !Or [!Condition B, !Not [!Equals [1, 2]]], B: !And [!Condition A]}\nResources: {F: {Type: AWS::Serverless::Function, Condition: A}}\n",
		"a: &a [*a]\nResources: {F: {Type: AWS::Serverless::Function, Properties: {CodeUri: !Select [0, !Split [',', !Sub '${AWS::Region},x']]}}}\n",
		"Mappings: {M: {a: {b: [1]}}}\nResources: {F: {Type: AWS::Serverless::Function, Properties: {Environment: {Variables: {X: !FindInMap [M, a, b]}}, Architectures: !GetAtt X.Y}}}\n",
		`{"Resources": {"F": {"Type": "AWS::Serverless::Function", "Metadata": {"DockerContext": 1}, "Properties": {"PackageType": "Image"}}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tpl, err := Parse(data, "/fuzz", Options{ParameterOverrides: map[string]string{}})
		if (tpl == nil) == (err == nil) {
			t.Fatalf("want exactly one of template and error, got %v and %v", tpl, err)
		}
	})
}
