// Entry point: metrics first (the e2e test reads them), then the app.
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { initMetrics } from "./api/metrics";
import { App } from "./App";
import "./styles.css";

initMetrics();
createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
