package reconcile

import (
	"fmt"
	"strconv"
	"strings"
)

// Shard selects the freelancers whose account id hashes to Index of Count.
// The zero value (Count 0) is the whole marketplace. Shards are disjoint and
// together cover everyone, and a freelancer's balance is only ever touched by
// the one shard its account falls in.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// Sharded reports whether the shard is a part of the marketplace.
func (s Shard) Sharded() bool { return s.Count > 1 }

// String is "I/N", or "" for the whole marketplace.
func (s Shard) String() string {
	if !s.Sharded() {
		return ""
	}
	return strconv.Itoa(s.Index) + "/" + strconv.Itoa(s.Count)
}

// ParseShard reads "I/N" with 0 <= I < N; "" is the whole marketplace.
func ParseShard(v string) (Shard, error) {
	if v == "" {
		return Shard{}, nil
	}
	i, n, ok := strings.Cut(v, "/")
	index, err1 := strconv.Atoi(i)
	count, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("not I/N: %q", v)
	}
	if count < 1 || count > 1024 || index < 0 || index >= count {
		return Shard{}, fmt.Errorf("need 0 <= I < N <= 1024, got %q", v)
	}
	if count == 1 {
		return Shard{}, nil
	}
	return Shard{Index: index, Count: count}, nil
}
