/** Standalone output: the Docker image carries only the server and what it imports. */
const nextConfig = {
  output: "standalone",
  poweredByHeader: false,
};

export default nextConfig;
