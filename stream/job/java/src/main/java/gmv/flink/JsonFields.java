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
 * <p>One more element follows the fields: their JSON types, one letter per field in the order
 * asked: {@code s} string, {@code n} integer, {@code f} other number, {@code b} boolean, {@code -}
 * missing, null, object or array, {@code d} given more than once. The job checks a field's type
 * with it instead of a regular expression over the whole message (a fifth of the parsing
 * operator's time in the job's profile).
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
        String[] values = new String[names.length + 1];
        char[] types = new char[names.length];
        java.util.Arrays.fill(types, '-');
        if (msg == null) {
            return notJson(names.length);
        }
        try (JsonParser parser = FACTORY.createParser(msg)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                return notJson(names.length);
            }
            JsonToken token;
            boolean[] seen = new boolean[names.length];
            while ((token = parser.nextToken()) == JsonToken.FIELD_NAME) {
                int slot = indexOf(names, parser.getCurrentName());
                token = parser.nextToken();
                char type = type(token);
                if (token == JsonToken.START_OBJECT || token == JsonToken.START_ARRAY) {
                    parser.skipChildren();
                }
                if (slot >= 0) {
                    // the last duplicate wins, as in a parsed tree; the type says it was repeated
                    values[slot] = type == '-' ? null : text(parser, token);
                    types[slot] = seen[slot] ? 'd' : type;
                    seen[slot] = true;
                }
            }
            if (token != JsonToken.END_OBJECT) {
                return notJson(names.length);  // malformed: as if not JSON at all
            }
            // Text after the first JSON value is ignored, as JSON_VALUE does.
        } catch (Exception malformed) {
            return notJson(names.length);
        }
        values[names.length] = new String(types);
        return values;
    }

    private static String[] notJson(int fields) {
        String[] values = new String[fields + 1];
        values[fields] = "-".repeat(fields);
        return values;
    }

    private static char type(JsonToken token) {
        switch (token) {
            case VALUE_STRING:
                return 's';
            case VALUE_NUMBER_INT:
                return 'n';
            case VALUE_NUMBER_FLOAT:
                return 'f';
            case VALUE_TRUE:
            case VALUE_FALSE:
                return 'b';
            default:
                return '-';
        }
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
