// The dashboard page (pattern P4): Grafana's sentinel-overview in an iframe. Grafana allows
// embedding only for signed-in viewers, so a first visit shows Grafana's login inside the frame.

// Read GRAFANA_PUBLIC_URL when a request arrives, not when the image is built.
export const dynamic = "force-dynamic";

const DASHBOARD = "/d/sentinel-overview/sentinel-overview?orgId=1&kiosk&refresh=10s";

export default function Dashboard() {
  const grafana = (process.env.GRAFANA_PUBLIC_URL || "http://127.0.0.1:3000").replace(/\/$/, "");
  return (
    <main style={{ display: "flex", flexDirection: "column", height: "100vh" }}>
      <header style={{ padding: "0.5rem 1rem", borderBottom: "1px solid #ddd" }}>
        <strong>Sentinel</strong> · overview ·{" "}
        <a href={`${grafana}${DASHBOARD}`} target="_blank" rel="noopener noreferrer">open in Grafana</a>
      </header>
      <iframe
        title="Sentinel overview"
        src={`${grafana}${DASHBOARD}`}
        style={{ flex: 1, border: 0, width: "100%" }}
        referrerPolicy="same-origin"
      />
    </main>
  );
}
