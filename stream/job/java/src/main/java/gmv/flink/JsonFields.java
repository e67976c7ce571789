package gmv.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.binary.BinaryStringData;
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
 * <p>And one last element: what is wrong with the message as a whole, NULL when nothing is:
 * {@code too_large} (more than {@link #MAX_BYTES} bytes: not parsed at all), {@code bad_encoding}
 * (not valid UTF-8; Flink's raw format keeps a message's bytes as they came, and reading them
 * as a Java string would quietly turn bad bytes into U+FFFD), {@code too_deep} (objects or
 * arrays nested more than {@link #MAX_DEPTH} deep). The field values are then all NULL.
 *
 * <p>It reads the message's UTF-8 bytes with Jackson's streaming parser and builds no tree: the
 * job's profile showed the tree (one node per field, then a lookup per name) as the biggest cost
 * of parsing.
 */
public class JsonFields extends ScalarFunction {
    /** Messages longer than this (bytes) are refused unread; rollup_sql.MAX_MESSAGE_BYTES says the same. */
    public static final int MAX_BYTES = 64 * 1024;
    /** Deeper nesting than this is refused; an event is one flat object (depth 1). */
    public static final int MAX_DEPTH = 64;

    private static final JsonFactory FACTORY = new JsonFactory();

    /**
     * Declared non-deterministic only so the planner keeps one call per message: it inlines a
     * deterministic call into every {@code v[i]} that reads it, parsing the message once per field.
     */
    @Override
    public boolean isDeterministic() {
        return false;
    }

    public @DataTypeHint("ARRAY<STRING>") String[] eval(
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData msg, String... names) {
        if (msg == null) {
            return notJson(names.length, null);
        }
        byte[] bytes;
        if (msg instanceof BinaryStringData) {
            BinaryStringData binary = (BinaryStringData) msg;
            if (binary.getSizeInBytes() > MAX_BYTES) {
                return notJson(names.length, "too_large");
            }
            bytes = binary.toBytes();
        } else {
            bytes = msg.toBytes();
        }
        if (bytes.length > MAX_BYTES) {
            return notJson(names.length, "too_large");
        }
        if (!isUtf8(bytes)) {
            return notJson(names.length, "bad_encoding");
        }
        String[] values = new String[names.length + 2];
        char[] types = new char[names.length];
        java.util.Arrays.fill(types, '-');
        try (JsonParser parser = FACTORY.createParser(bytes)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                return notJson(names.length, null);
            }
            JsonToken token;
            boolean[] seen = new boolean[names.length];
            while ((token = parser.nextToken()) == JsonToken.FIELD_NAME) {
                int slot = indexOf(names, parser.getCurrentName());
                token = parser.nextToken();
                char type = type(token);
                if (token == JsonToken.START_OBJECT || token == JsonToken.START_ARRAY) {
                    if (!skipChildren(parser)) {
                        return notJson(names.length, "too_deep");
                    }
                }
                if (slot >= 0) {
                    // the last duplicate wins, as in a parsed tree; the type says it was repeated
                    values[slot] = type == '-' ? null : text(parser, token);
                    types[slot] = seen[slot] ? 'd' : type;
                    seen[slot] = true;
                }
            }
            if (token != JsonToken.END_OBJECT) {
                return notJson(names.length, null);  // malformed: as if not JSON at all
            }
            // Text after the first JSON value is ignored, as JSON_VALUE does.
        } catch (Exception malformed) {
            return notJson(names.length, null);
        }
        values[names.length] = new String(types);
        return values;
    }

    private static String[] notJson(int fields, String problem) {
        String[] values = new String[fields + 2];
        values[fields] = "-".repeat(fields);
        values[fields + 1] = problem;
        return values;
    }

    /**
     * Skips the object or array just opened (depth 2 below the message's own object), like
     * {@link JsonParser#skipChildren()}, but gives up (false) beyond {@link #MAX_DEPTH}.
     */
    private static boolean skipChildren(JsonParser parser) throws java.io.IOException {
        int open = 1;
        while (open > 0) {
            JsonToken token = parser.nextToken();
            if (token == null) {
                throw new java.io.EOFException("unclosed object or array");
            }
            if (token == JsonToken.START_OBJECT || token == JsonToken.START_ARRAY) {
                if (++open + 1 > MAX_DEPTH) {
                    return false;
                }
            } else if (token == JsonToken.END_OBJECT || token == JsonToken.END_ARRAY) {
                open--;
            }
        }
        return true;
    }

    /** Strict UTF-8 (RFC 3629): no stray continuation bytes, overlong forms, surrogates or code
     *  points past U+10FFFF. Plain ASCII, nearly every byte of an event, takes the first branch. */
    static boolean isUtf8(byte[] bytes) {
        int i = 0;
        int n = bytes.length;
        while (i < n) {
            int b = bytes[i];
            if (b >= 0) {
                i++;
                continue;
            }
            b &= 0xFF;
            int more;
            int min;
            if (b >= 0xC2 && b <= 0xDF) {
                more = 1;
                min = 0x80;
            } else if (b >= 0xE0 && b <= 0xEF) {
                more = 2;
                min = 0x800;
            } else if (b >= 0xF0 && b <= 0xF4) {
                more = 3;
                min = 0x10000;
            } else {
                return false;  // a continuation byte first, C0/C1 (always overlong) or F5..FF
            }
            if (i + more >= n) {
                return false;  // cut short
            }
            int cp = b & (0x3F >> more);
            for (int k = 1; k <= more; k++) {
                int c = bytes[i + k] & 0xFF;
                if ((c & 0xC0) != 0x80) {
                    return false;
                }
                cp = (cp << 6) | (c & 0x3F);
            }
            if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
                return false;
            }
            i += more + 1;
        }
        return true;
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
