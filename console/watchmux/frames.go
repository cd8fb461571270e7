package watchmux

import (
	"encoding/json"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Types of the frames the browser sends.
const (
	TypeWatch = "watch"
	TypeStop  = "stop"
)

// Types of the frames the server sends.
const (
	TypeEvent  = "event"
	TypeStatus = "status"
	TypeEnd    = "end"
	TypeError  = "error"
)

// Message is a frame from the browser: a watch of Path (what would follow /k8s, with its
// query; the server adds watch=1) under the browser's ID, or the stop of the watch of ID.
type Message struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Path string `json:"path,omitempty"`
}

// Frame is a frame to the browser. Event and Status hold the API server's JSON unchanged: an
// event of the watch, or the Status of an error answer (with its HTTP status Code).
type Frame struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Event   json.RawMessage `json:"event,omitempty"`
	Code    int             `json:"code,omitempty"`
	Status  json.RawMessage `json:"status,omitempty"`
	Message string          `json:"message,omitempty"`
}

// eventPrefix starts every event frame of watch id; an event frame is the prefix, the event
// as the API server sent it and a closing brace, so that events are never decoded and
// encoded again.
func eventPrefix(id string) []byte {
	quoted, _ := json.Marshal(id)
	return []byte(`{"type":"` + TypeEvent + `","id":` + string(quoted) + `,"event":`)
}

func eventFrame(prefix, event []byte) []byte {
	frame := make([]byte, 0, len(prefix)+len(event)+1)
	return append(append(append(frame, prefix...), event...), '}')
}

// statusFrame passes on an error answer of the API server. body is its Status; when it is
// not a JSON object (a front proxy's text, no answer at all), a Status is made of it.
func statusFrame(id string, code int, body []byte) []byte {
	trimmed := strings.TrimSpace(string(body))
	if !strings.HasPrefix(trimmed, "{") || !json.Valid(body) {
		message := trimmed
		if message == "" {
			message = http.StatusText(code)
		}
		body, _ = json.Marshal(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status: metav1.StatusFailure, Message: message, Code: int32(code)})
	}
	return encode(Frame{Type: TypeStatus, ID: id, Code: code, Status: body})
}

func endFrame(id string) []byte { return encode(Frame{Type: TypeEnd, ID: id}) }

func errorFrame(id, message string) []byte {
	return encode(Frame{Type: TypeError, ID: id, Message: message})
}

func encode(f Frame) []byte {
	data, err := json.Marshal(f)
	if err != nil { // only a RawMessage that is not JSON, which statusFrame rules out
		data, _ = json.Marshal(Frame{Type: TypeError, ID: f.ID, Message: "encoding the frame: " + err.Error()})
	}
	return data
}
