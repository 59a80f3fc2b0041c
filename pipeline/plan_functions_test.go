package pipeline

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/config"
)

// DRYRUN shows what the embedded producer would build for each function, without Docker.
func TestPrintPlanShowsFunctionPlans(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	const tpl = `Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: python3.14
      Architectures: [arm64]
      Environment: {Variables: {TABLE: !GetAtt Table.Arn}}
  Table: {Type: AWS::DynamoDB::Table}
`
	is.NoErr(os.MkdirAll(filepath.Join(dir, "src"), 0o755))
	is.NoErr(os.WriteFile(filepath.Join(dir, "template.yaml"), []byte(tpl), 0o644))
	cfg, err := config.Load([]string{"TEMPLATE=template.yaml", "DRYRUN=1"}, dir)
	is.NoErr(err)
	var out bytes.Buffer
	is.NoErr(New(cfg).PrintPlan(&out))
	for _, want := range []string{
		"function Orders → esb-orders:latest (arm64): python3.14 on public.ecr.aws/lambda/python:3.14-arm64, handler app.handler, code src",
		"warning: 1 value(s) need a deployed stack",
	} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("dry run output lacks %q:\n%s", want, out.String())
		}
	}
}
