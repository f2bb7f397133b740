package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// jsonSerializer stores session values as JSON instead of gorilla's default
// gob. Decoding a gob cookie rebuilds its type decoder on every request,
// which profiling showed as a quarter of a coupon claim's CPU; JSON of a few
// flat values is several times cheaper (BenchmarkSessionDecode). Values are
// strings, bools, int64s (JSON integers come back as int64) and lists of
// those (flash messages).
type jsonSerializer struct{}

func (jsonSerializer) Serialize(src any) ([]byte, error) {
	m, ok := src.(map[any]any)
	if !ok {
		return nil, fmt.Errorf("session: cannot serialize %T", src)
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("session: key %v is not a string", k)
		}
		out[key] = v
	}
	return json.Marshal(out)
}

// Deserialize reads what Serialize wrote. JSON numbers are read as
// json.Number so that an int64 comes back whole (not through float64).
func (jsonSerializer) Deserialize(src []byte, dst any) error {
	m, ok := dst.(*map[any]any)
	if !ok {
		return fmt.Errorf("session: cannot deserialize into %T", dst)
	}
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	var in map[string]any
	if err := dec.Decode(&in); err != nil {
		return err
	}
	if *m == nil {
		*m = make(map[any]any, len(in))
	}
	for k, v := range in {
		(*m)[k] = fromJSON(v)
	}
	return nil
}

var errNotInteger = errors.New("session: only whole numbers are stored")

func fromJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		return errNotInteger
	case []any:
		for i := range x {
			x[i] = fromJSON(x[i])
		}
		return x
	default:
		return v
	}
}
