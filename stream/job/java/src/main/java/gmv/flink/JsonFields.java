package gmv.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * JSON_FIELDS(msg, 'a', 'b', ...): the top-level scalar fields of a JSON object as text, in the
 * order asked, parsing the message once.
 *
 * <p>Each element is what JSON_VALUE(msg, '$.name') returns: the text of a string, number or
 * boolean; NULL when the field is missing, null, an object or an array, or when msg is not one
 * JSON object. All checks stay in SQL (stream/job/rollup_sql.py); this only replaces one parse per field.
 *
 * <p>It reads the message with Jackson's streaming parser and builds no tree: the job's profile
 * showed the tree (one node per field, then a lookup per name) as the biggest cost of parsing.
 */
public class JsonFields extends ScalarFunction {
    private static final JsonFactory FACTORY = new JsonFactory();

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
        if (msg == null) {
            return values;
        }
        try (JsonParser parser = FACTORY.createParser(msg)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                return values;
            }
            JsonToken token;
            while ((token = parser.nextToken()) == JsonToken.FIELD_NAME) {
                int slot = indexOf(names, parser.getCurrentName());
                token = parser.nextToken();
                if (token == JsonToken.START_OBJECT || token == JsonToken.START_ARRAY) {
                    parser.skipChildren();
                    if (slot >= 0) {
                        values[slot] = null;  // the last duplicate wins, as in a parsed tree
                    }
                } else if (slot >= 0) {
                    values[slot] = text(parser, token);
                }
            }
            if (token != JsonToken.END_OBJECT) {
                return new String[names.length];  // malformed: as if not JSON at all
            }
            // Text after the first JSON value is ignored, as JSON_VALUE does.
        } catch (Exception notJson) {
            return new String[names.length];
        }
        return values;
    }

    private static int indexOf(String[] names, String name) {
        for (int i = 0; i < names.length; i++) {
            if (names[i].equals(name)) {
                return i;
            }
        }
        return -1;
    }

    /** A scalar's text as JSON_VALUE gives it: numbers keep their written form, except that a
     *  float reads as BigDecimal prints it (1.6e12 -> "1.6E+12", 19.50 -> "19.50"). */
    private static String text(JsonParser parser, JsonToken token) throws java.io.IOException {
        switch (token) {
            case VALUE_STRING:
            case VALUE_NUMBER_INT:
            case VALUE_TRUE:
            case VALUE_FALSE:
                return parser.getText();
            case VALUE_NUMBER_FLOAT:
                return parser.getDecimalValue().toString();
            default:
                return null;  // JSON null
        }
    }
}
