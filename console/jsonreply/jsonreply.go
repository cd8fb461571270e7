// Package jsonreply writes the web console's own JSON responses: values and the
// {"message": "..."} errors of its HTTP interface.
package jsonreply

import (
	"encoding/json"
	"net/http"
)

// Message is the body of an error response.
type Message struct {
	Message string `json:"message"`
}

// Write sends v as JSON with status code.
func Write(w http.ResponseWriter, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		code, data = http.StatusInternalServerError, []byte(`{"message":"encoding the response failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(data, '\n'))
}

// Error sends {"message": message} with status code.
func Error(w http.ResponseWriter, code int, message string) {
	Write(w, code, Message{Message: message})
}
