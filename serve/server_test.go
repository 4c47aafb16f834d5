package serve

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestLoopbackHosts: requests named for loopback pass; a page's own host name (DNS
// rebinding to 127.0.0.1) is refused with 421.
func TestLoopbackHosts(t *testing.T) {
	h := LoopbackHosts(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	for host, want := range map[string]int{
		"127.0.0.1:8080":         http.StatusTeapot,
		"localhost:8080":         http.StatusTeapot,
		"LOCALHOST":              http.StatusTeapot,
		"[::1]:8080":             http.StatusTeapot,
		"127.3.4.5":              http.StatusTeapot,
		"attacker.example:8080":  http.StatusMisdirectedRequest,
		"10.0.0.1:8080":          http.StatusMisdirectedRequest,
		"":                       http.StatusMisdirectedRequest,
		"127.0.0.1.evil.example": http.StatusMisdirectedRequest,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("Host %q: %d, want %d", host, w.Code, want)
		}
	}
}
