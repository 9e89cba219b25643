// One single-node Elasticsearch for tests, run by scripts/backing-services as:
//   java -cp '<lib>/*' EsNode.java BASE_DIR HTTP_PORT TRANSPORT_PORT
// (Java's source launcher compiles this file in memory; no build step.)
import org.codelibs.elasticsearch.runner.ElasticsearchClusterRunner;

public class EsNode {
    public static void main(String[] args) throws Exception {
        String baseDir = args[0];
        String httpPort = args[1];
        String transportPort = args[2];

        ElasticsearchClusterRunner runner = new ElasticsearchClusterRunner();
        runner.setMaxHttpPort(-1); // skip the runner's 9200-9299 port scan
        runner.onBuild((number, settings) -> {
            settings.put("network.host", "127.0.0.1");
            settings.put("http.port", httpPort);
            settings.put("transport.port", transportPort);
            settings.put("discovery.type", "single-node");
            // A nearly full disk must not turn test indices read-only.
            settings.put("cluster.routing.allocation.disk.threshold_enabled", "false");
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (Exception e) {
                System.err.println("close failed: " + e);
            }
        }));
        runner.build("-basePath", baseDir, "-numOfNode", "1", "-clusterName", "sotay-test");
        while (!runner.isClosed()) {
            Thread.sleep(1000);
        }
    }
}
