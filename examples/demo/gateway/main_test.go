package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/matryer/is"
)

func TestWriteProxyResponse(t *testing.T) {
	for _, tc := range []struct {
		name, result string
		status       int
		body, ctype  string
	}{
		{"proxy response", `{"statusCode":201,"headers":{"Content-Type":"text/plain"},"body":"made"}`, 201, "made", "text/plain"},
		{"base64 body", `{"statusCode":200,"body":"aGk=","isBase64Encoded":true}`, 200, "hi", ""},
		{"multi-value headers", `{"statusCode":200,"multiValueHeaders":{"Content-Type":["a/b"]},"body":""}`, 200, "", "a/b"},
		{"not a proxy response: the result as JSON", `{"answer":42}`, 200, `{"answer":42}`, "application/json"},
		{"a bare string", `"hello"`, 200, `"hello"`, "application/json"},
		{"bad base64", `{"statusCode":200,"body":"!!","isBase64Encoded":true}`, 502, "", "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			w := httptest.NewRecorder()
			writeProxyResponse(w, []byte(tc.result))
			is.Equal(w.Code, tc.status)
			if tc.status == 200 || tc.status == 201 {
				is.Equal(w.Body.String(), tc.body)
			}
			is.Equal(w.Header().Get("Content-Type"), tc.ctype)
		})
	}
}

func TestProxyEvent(t *testing.T) {
	is := is.New(t)
	r := httptest.NewRequest(http.MethodPost, "https://gw/items/7?q=a&q=b", strings.NewReader("\xff\xfe"))
	r.Header.Set("X-Test", "1")
	raw, err := proxyEvent(r, Route{Path: "/items/{id}", Method: "POST", Function: "f"}, map[string]string{"id": "7"})
	is.NoErr(err)
	var ev struct {
		PathParameters                  map[string]string
		QueryStringParameters           map[string]string
		MultiValueQueryStringParameters map[string][]string
		Headers                         map[string]string
		Body                            string
		IsBase64Encoded                 bool
	}
	is.NoErr(json.Unmarshal(raw, &ev))
	var top map[string]any
	is.NoErr(json.Unmarshal(raw, &top))
	is.Equal(top["resource"], "/items/{id}")
	is.Equal(top["path"], "/items/7")
	is.Equal(top["httpMethod"], "POST")
	is.Equal(ev.PathParameters["id"], "7")
	is.Equal(ev.QueryStringParameters["q"], "b") // the last value, as API Gateway gives it
	is.Equal(ev.MultiValueQueryStringParameters["q"], []string{"a", "b"})
	is.Equal(ev.Headers["X-Test"], "1")
	is.True(ev.IsBase64Encoded) // not UTF-8
	is.Equal(ev.Body, "//4=")
}
