package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decodeStrict decodes data over cfg. Unknown keys are errors, reported all
// at once, each as `name: line N: unknown key "k" in tenants[0]`; type errors
// are reported with their line and key path too. An empty document leaves
// cfg as it is.
func decodeStrict(data []byte, name string, cfg *Config) error {
	prefix := ""
	if name != "" {
		prefix = name + ": "
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return errors.New(prefix + strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 {
		return nil // empty or comments only: the defaults
	}

	w := walker{lines: map[int]string{}}
	w.walk(&doc, reflect.TypeFor[Config](), "", 0)
	if len(w.unknown) > 0 {
		return errors.New(prefix + strings.Join(w.unknown, "\n"+prefix))
	}

	// The walk above gives friendlier messages; KnownFields stays on so the
	// decoder itself never silently drops a key the walk missed.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(cfg)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return errors.New(prefix + strings.TrimPrefix(err.Error(), "yaml: "))
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = prefix + w.withPath(m)
	}
	return errors.New(strings.Join(msgs, "\n"))
}

// walker checks a YAML node tree against the Config types, collecting unknown
// keys and remembering which key path each line's value belongs to.
type walker struct {
	unknown []string
	lines   map[int]string // line → path of the innermost value starting on it
}

var lineMsg = regexp.MustCompile(`^line (\d+): (.*)$`)

// withPath turns the decoder's "line 9: cannot unmarshal ..." into
// "line 9: ingest.concurrency: cannot unmarshal ...".
func (w *walker) withPath(msg string) string {
	m := lineMsg.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	n, _ := strconv.Atoi(m[1])
	if p, ok := w.lines[n]; ok && p != "" && !strings.HasPrefix(m[2], p+":") {
		return fmt.Sprintf("line %d: %s: %s", n, p, m[2])
	}
	return msg
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

const maxDepth = 32 // aliases can make a tree arbitrarily deep

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string, depth int) {
	if n == nil || depth > maxDepth {
		return
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			w.walk(c, t, path, depth+1)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		w.walk(n.Alias, t, path, depth+1)
		return
	}
	if path != "" {
		w.lines[n.Line] = path
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				w.walk(v, t, path, depth+1) // a mapping or a sequence of them
				continue
			}
			ft, ok := fields[k.Value]
			if !ok {
				w.unknown = append(w.unknown, unknownKey(k, path, fields))
				continue
			}
			w.walk(v, ft, join(path, k.Value), depth+1)
		}
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Struct:
		for _, c := range n.Content { // the value of a merge key
			w.walk(c, t, path, depth+1)
		}
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, c := range n.Content {
			w.walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func unknownKey(k *yaml.Node, path string, fields map[string]reflect.Type) string {
	msg := fmt.Sprintf("line %d: unknown key %q", k.Line, k.Value)
	if path != "" {
		msg += " in " + path
	}
	best, bestDist := "", 3
	for name := range fields {
		if d := editDistance(strings.ToLower(k.Value), name); d < bestDist || (d == bestDist && name < best) {
			best, bestDist = name, d
		}
	}
	if best != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", best)
	}
	return msg
}

// yamlFields maps the YAML key of each field of struct type t to its type.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

// editDistance is the Levenshtein distance, for "did you mean" hints.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
