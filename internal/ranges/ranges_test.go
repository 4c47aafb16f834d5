package ranges

import (
	"reflect"
	"testing"
)

func TestMerge(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in, out []Range
	}{
		{"empty", nil, nil},
		{"one", []Range{{1, 2}}, []Range{{1, 2}}},
		{"apart, unsorted", []Range{{10, 20}, {0, 5}}, []Range{{0, 5}, {10, 20}}},
		{"touching", []Range{{0, 5}, {5, 8}}, []Range{{0, 8}}},
		{"overlapping", []Range{{4, 9}, {0, 5}}, []Range{{0, 9}}},
		{"contained", []Range{{0, 100}, {10, 20}, {200, 300}}, []Range{{0, 100}, {200, 300}}},
		{"to the top", []Range{{0, 1 << 20}, {1 << 19, ^uint64(0)}}, []Range{{0, ^uint64(0)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Merge(tc.in); !reflect.DeepEqual(got, tc.out) {
				t.Errorf("Merge = %v, want %v", got, tc.out)
			}
		})
	}
}
