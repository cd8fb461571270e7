// The page's error banner (data-testid page-error): every refusal the API returns that is not
// a form's goes here, keyed by where it came from so that it goes away when that recovers.
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";

type Report = (key: string, message: string | null) => void;

const ReportContext = createContext<Report>(() => {});
const MessagesContext = createContext<{ messages: Record<string, string>; clear: () => void }>({
  messages: {},
  clear: () => {},
});

/** usePageError returns report(key, message): show a message under key, or clear it with null. */
export function usePageError(): Report {
  return useContext(ReportContext);
}

/** useReportedError shows error under key while it is set, and clears it on unmount. */
export function useReportedError(key: string, error: Error | null | undefined): void {
  const report = usePageError();
  const message = error ? error.message : null;
  useEffect(() => {
    report(key, message);
    return () => report(key, null);
  }, [report, key, message]);
}

/** PageErrorProvider holds the messages for the banner and the components that report. */
export function PageErrorProvider({ children }: { children: ReactNode }) {
  const [messages, setMessages] = useState<Record<string, string>>({});
  const report = useCallback<Report>((key, message) => {
    setMessages((old) => {
      if ((old[key] ?? null) === message) return old;
      const next = { ...old };
      if (message === null) delete next[key];
      else next[key] = message;
      return next;
    });
  }, []);
  const clear = useCallback(() => setMessages({}), []);
  return (
    <ReportContext.Provider value={report}>
      <MessagesContext.Provider value={{ messages, clear }}>{children}</MessagesContext.Provider>
    </ReportContext.Provider>
  );
}

/** PageErrorBanner shows the reported messages, each once. */
export function PageErrorBanner() {
  const { messages, clear } = useContext(MessagesContext);
  const shown = [...new Set(Object.values(messages))];
  if (shown.length === 0) return null;
  return (
    <div className="page-error-box">
      <div className="page-error" role="alert" data-testid="page-error">
        {shown.map((m) => (
          <p key={m}>{m}</p>
        ))}
      </div>
      <button type="button" onClick={clear}>
        Dismiss
      </button>
    </div>
  );
}
