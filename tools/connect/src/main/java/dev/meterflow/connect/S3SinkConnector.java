/*
 * S3SinkConnector: writes topics to S3 as JSON lines or Parquet, in time
 * directories, one object per (partition, offset block, time directory),
 * named by topic, partition and start offset (deploy/connect/README.md).
 */
package dev.meterflow.connect;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.sink.SinkConnector;

public final class S3SinkConnector extends SinkConnector {
    public static final String VERSION = "0.1.0";

    private Map<String, String> props;

    @Override
    public String version() {
        return VERSION;
    }

    @Override
    public void start(Map<String, String> props) {
        new S3SinkConfig(props); // fail here, with the setting named, not in every task
        this.props = new HashMap<>(props);
    }

    @Override
    public Class<? extends Task> taskClass() {
        return S3SinkTask.class;
    }

    @Override
    public List<Map<String, String>> taskConfigs(int maxTasks) {
        List<Map<String, String>> out = new ArrayList<>();
        for (int i = 0; i < maxTasks; i++)
            out.add(new HashMap<>(props));
        return out;
    }

    @Override
    public void stop() {}

    @Override
    public ConfigDef config() {
        return S3SinkConfig.DEF;
    }
}
