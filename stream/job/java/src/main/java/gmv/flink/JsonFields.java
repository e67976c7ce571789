package gmv.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.DeserializationFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.JsonNodeFactory;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * JSON_FIELDS(msg, 'a', 'b', ...): the top-level scalar fields of a JSON object as text, in the
 * order asked, parsing the message once.
 *
 * <p>Each element is what JSON_VALUE(msg, '$.name') returns: the text of a string, number or
 * boolean; NULL when the field is missing, null, an object or an array, or when msg is not one
 * JSON object. All checks stay in SQL (stream/job/rollup_sql.py); this only replaces one parse per field.
 */
public class JsonFields extends ScalarFunction {
    // Numbers keep their written form (19.50 stays "19.50", 1.6e12 reads "1.6E+12"), and text after
    // the first JSON value is ignored: both as JSON_VALUE does, which tests/integration checks.
    private static final ObjectMapper MAPPER = new ObjectMapper()
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .setNodeFactory(JsonNodeFactory.withExactBigDecimals(true));

    /**
     * Declared non-deterministic only so the planner keeps one call per message: it inlines a
     * deterministic call into every {@code v[i]} that reads it, parsing the message once per field.
     */
    @Override
    public boolean isDeterministic() {
        return false;
    }

    public @DataTypeHint("ARRAY<STRING>") String[] eval(String msg, String... names) {
        String[] values = new String[names.length];
        JsonNode root;
        try {
            root = msg == null ? null : MAPPER.readTree(msg);
        } catch (Exception notJson) {
            return values;
        }
        if (root == null || !root.isObject()) {
            return values;
        }
        for (int i = 0; i < names.length; i++) {
            JsonNode value = root.get(names[i]);
            if (value != null && value.isValueNode() && !value.isNull()) {
                values[i] = value.asText();
            }
        }
        return values;
    }
}
